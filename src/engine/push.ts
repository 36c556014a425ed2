import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { availableParallelism } from 'node:os';
import { constants as zlib, createZstdCompress } from 'node:zlib';
import { createParallelGzip } from '../archive/parallel-gzip.js';
import { CtrError, errorMessage } from '../errors.js';
import { sha256Digest, shortId } from '../image/digest.js';
import { formatReference, parseReference, repositoryName, type Reference } from '../image/reference.js';
import { MediaType, type Descriptor, type ImageConfig, type ImageManifest } from '../image/types.js';
import type { RegistryClient } from '../registry/client.js';
import { RegistryError } from '../registry/errors.js';
import { ChunkedUpload, cancelUpload, hasBlob, pushSmallBlob, putBlob, putManifest, startUpload } from '../registry/push.js';
import type { ImageRecord } from '../store/images.js';
import type { LayerRecord } from '../store/layers.js';
import { openEngine, type Engine, type EngineOptions } from './context.js';
import { resolveImage } from './images.js';
import { registryClient, runLimited, type RegistryAccessOptions } from './pull.js';
import { reassembleLayer } from './unpack.js';

export type PushFormat = 'oci' | 'docker';
export type PushCompression = 'gzip' | 'zstd';
export type PushPhase = 'exists' | 'mounted' | 'waiting' | 'uploading' | 'done';

/** What a push reports while it works; the CLI draws bars or plain lines from it. */
export interface PushProgress {
  /** The layers, keyed by diff_id (their compressed digest may not be known yet), with their sizes. */
  started?(destination: string, layers: { id: string; size: number }[]): void;
  /** detail: the repository a blob was mounted from. */
  layer?(id: string, phase: PushPhase, bytes: number, total: number, detail?: string): void;
  config?(digest: string, phase: 'exists' | 'done'): void;
  writingManifest?(): void;
  notice?(text: string): void;
}

export interface PushOptions extends EngineOptions, RegistryAccessOptions {
  /** The image in the store: a name, an id or name@digest. */
  image: string;
  /** Where to push (default: the image's own name). */
  destination?: string;
  /** The manifest format; default: the stored manifest's, OCI for images made here. */
  format?: PushFormat;
  /** How layers are compressed when they have to be; asked for explicitly, other forms are not reused. */
  compressionFormat?: PushCompression;
  /** Write the pushed manifest's digest to this file. */
  digestFile?: string;
  progress?: PushProgress;
  signal?: AbortSignal;
}

export interface PushResult {
  /** The full reference pushed to: host/repository:tag. */
  reference: string;
  tag: string;
  /** The digest and size of the manifest the registry now has. */
  digest: string;
  size: number;
  /** True when the pushed manifest is not the one the store had (layers compressed again, another format). */
  rewritten: boolean;
}

type Form = LayerRecord['compressed'][number];

interface LayerPlan {
  diffId: string;
  /** Uncompressed size: the progress total when the layer is compressed here. */
  size: number;
  /** Compressed forms the registry may get without compressing again, best first. */
  forms: Form[];
}

// Two at once, as pull: on two cores more only contend.
const PARALLEL_LAYERS = 2;
// Big enough that the round trips do not matter, small enough to resend after a broken connection.
const CHUNK_SIZE = 16 * 1024 * 1024;
const UNREACHABLE = new Set(['unreachable', 'timeout', 'tls', 'connection', 'unauthorized']);
// Level 4 gives the size podman's default gives (Debian's layer: 50.4 MB vs 51.1) in 60% of level 6's time.
const GZIP_LEVEL = 4;
// Blocks in flight: output does not depend on it (see parallel-gzip.ts), only the speed does.
const GZIP_THREADS = Math.min(Math.max(availableParallelism(), 2), 8);

function compressionOf(mediaType: string): PushCompression | undefined {
  if (mediaType.endsWith('+zstd')) return 'zstd';
  if (/[.+]gzip$/.test(mediaType)) return 'gzip';
  return undefined;
}

function layerMediaType(format: PushFormat, compression: PushCompression): string {
  if (format === 'docker') return MediaType.DockerLayerGzip;
  return compression === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayerGzip;
}

/** The repository part of host/path, when it is on `host`. */
function pathOn(repository: string, host: string): string | undefined {
  return repository.startsWith(`${host}/`) ? repository.slice(host.length + 1) : undefined;
}

function hostOf(repository: string): string {
  return repository.slice(0, repository.indexOf('/'));
}

/** podman accepts docker://NAME as a destination; other transports are not registries. */
function destinationReference(text: string): Reference {
  const bare = text.startsWith('docker://') ? text.slice('docker://'.length) : text;
  if (/^[a-z-]+:(?!\d)/.test(bare) && !bare.includes('/')) {
    throw new CtrError(`cannot push to "${text}": ctr pushes to registries only (HOST[:PORT]/REPOSITORY[:TAG])`);
  }
  const ref = parseReference(bare);
  if (ref.digest) throw new CtrError(`cannot push to ${text}: a destination names a tag, not a digest (HOST[:PORT]/REPOSITORY[:TAG])`);
  return ref;
}

function parseJson<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch {
    throw new CtrError(`${what} in the store is not valid JSON; remove the image and pull or build it again`);
  }
}

/**
 * Pushes an image to a registry: layers the registry has are skipped, blobs on another of its
 * repositories are mounted, blobs pulled from a reachable registry are copied through
 * unchanged, and only what is left is compressed here. An image pulled and pushed unchanged
 * keeps its manifest byte for byte; the config goes next, the manifest last.
 */
export async function push(opts: PushOptions): Promise<PushResult> {
  const engine = openEngine(opts);
  const { store } = engine;
  const image = resolveImage(store, opts.image);
  if (!opts.destination && !isNamed(image, opts.image)) {
    throw new CtrError(`${opts.image} names no repository; give a destination: ctr push ${opts.image} HOST[:PORT]/REPOSITORY[:TAG]`);
  }
  const ref = destinationReference(opts.destination ?? opts.image);
  const name = formatReference(ref);
  const tag = ref.tag ?? 'latest';
  if (opts.format === 'docker' && opts.compressionFormat === 'zstd') {
    throw new CtrError('zstd layers need --format oci: the Docker v2 schema 2 format has no zstd layer type');
  }
  const configBytes = store.blobs.get(image.id);
  const config = parseJson<ImageConfig>(configBytes, `the config of image ${shortId(image.id)}`);
  const storedBytes = store.blobs.get(image.manifestDigest);
  const stored = parseJson<ImageManifest>(storedBytes, `the manifest of image ${shortId(image.id)}`);
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (!Array.isArray(stored.layers) || stored.layers.length !== diffIds.length) {
    throw new CtrError(`image ${shortId(image.id)} is inconsistent in the store: its manifest and config list different layers; pull or build it again`);
  }
  const format: PushFormat = opts.format ?? (image.manifestMediaType === MediaType.DockerManifest ? 'docker' : 'oci');
  const plans = diffIds.map((diffId, i) => planLayer(engine, image, diffId, stored.layers[i]!, format, opts.compressionFormat));

  const client = registryClient(ref, opts);
  const sources = new Map<string, RegistryClient>([[ref.domain, client]]);
  const sourceClient = (host: string) => {
    let c = sources.get(host);
    // Credentials given with --creds are for the destination; a source uses its auth file entry.
    if (!c) sources.set(host, (c = registryClient({ domain: host }, { ...opts, creds: undefined })));
    return c;
  };
  // Sources that did not answer are not asked again for the next layers.
  const deadHosts = new Set<string>();
  try {
    opts.progress?.started?.(name, plans.map((p) => ({ id: p.diffId, size: p.size })));
    const pushed: Descriptor[] = new Array<Descriptor>(plans.length);
    const order = plans.map((_, i) => i).sort((a, b) => plans[b]!.size - plans[a]!.size);
    await runLimited(
      order.map((i) => async () => {
        pushed[i] = await pushLayer(engine, client, ref, plans[i]!, format, opts, sourceClient, deadHosts);
      }),
      PARALLEL_LAYERS,
    );

    const configDigest = sha256Digest(configBytes);
    const mountFrom = image.repoDigests.map((d) => pathOn(d.slice(0, d.indexOf('@')), ref.domain)).find((p) => p !== undefined && p !== ref.path);
    const configPhase = await pushSmallBlob(client, ref.path, configBytes, configDigest, { mountFrom, signal: opts.signal });
    opts.progress?.config?.(configDigest, configPhase === 'exists' ? 'exists' : 'done');

    const storedFormat: PushFormat = image.manifestMediaType === MediaType.DockerManifest ? 'docker' : 'oci';
    const unchanged = format === storedFormat && pushed.every((d, i) => d.digest === stored.layers[i]!.digest && compressionOf(d.mediaType) !== undefined);
    const manifest = unchanged
      ? { bytes: storedBytes, mediaType: image.manifestMediaType, digest: image.manifestDigest }
      : buildManifest(format, { digest: configDigest, size: configBytes.length }, pushed, format === 'oci' ? stored.annotations : undefined);
    opts.progress?.writingManifest?.();
    const said = await putManifest(client, ref.path, tag, manifest.bytes, manifest.mediaType, opts.signal);
    if (said && said.startsWith('sha256:') && said !== manifest.digest) {
      throw new CtrError(`registry ${ref.domain} stored the manifest of ${name} as ${said}, but ctr sent ${manifest.digest}; the registry changed it`);
    }
    const rewritten = manifest.digest !== image.manifestDigest;
    if (rewritten && stored.layers.some((l) => compressionOf(l.mediaType) !== undefined)) {
      opts.progress?.notice?.(`Note: the manifest of ${name} was written anew (${whyRewritten(stored, pushed, format, storedFormat, opts.compressionFormat)}), so its digest is ${manifest.digest}, not ${image.manifestDigest}`);
    }

    await record(engine, image, ref, plans, pushed, manifest.digest);
    if (opts.digestFile) writeDigestFile(opts.digestFile, manifest.digest);
    return { reference: name, tag, digest: manifest.digest, size: manifest.bytes.length, rewritten };
  } catch (err) {
    throw annotate(err, name);
  } finally {
    for (const c of sources.values()) c.close();
  }
}

function isNamed(image: ImageRecord, text: string): boolean {
  try {
    const ref = parseReference(text);
    return image.names.includes(formatReference(ref)) || image.repoDigests.some((d) => ref.digest !== undefined && d === `${repositoryName(ref)}@${ref.digest}`);
  } catch {
    return false;
  }
}

/** The compressed forms worth trying for a layer, the stored manifest's first. */
function planLayer(engine: Engine, image: ImageRecord, diffId: string, storedDesc: Descriptor, format: PushFormat, wanted: PushCompression | undefined): LayerPlan {
  const rec = engine.store.layers.get(diffId);
  if (!rec) throw new CtrError(`layer ${diffId} of image ${shortId(image.id)} is missing from the store; pull the image again`);
  const usable = (mediaType: string) => {
    const c = compressionOf(mediaType);
    return c !== undefined && (wanted === undefined || c === wanted) && (format === 'oci' || c === 'gzip');
  };
  const forms: Form[] = [];
  // The repositories the image was pulled from or pushed to hold every blob of its manifest.
  const imageRepos = image.repoDigests.map((d) => d.slice(0, d.indexOf('@')));
  const known = rec.compressed.find((c) => c.digest === storedDesc.digest);
  if (usable(storedDesc.mediaType)) {
    forms.push({ digest: storedDesc.digest, size: storedDesc.size, mediaType: storedDesc.mediaType, repositories: [...new Set([...(known?.repositories ?? []), ...imageRepos])] });
  }
  for (const c of rec.compressed) {
    if (usable(c.mediaType) && !forms.some((f) => f.digest === c.digest)) forms.push(c);
  }
  return { diffId, size: rec.size, forms };
}

/** One layer: skip, mount, copy from where it was pulled, or compress it here; returns what the manifest lists. */
async function pushLayer(
  engine: Engine,
  client: RegistryClient,
  ref: Reference,
  plan: LayerPlan,
  format: PushFormat,
  opts: PushOptions,
  sourceClient: (host: string) => RegistryClient,
  deadHosts: Set<string>,
): Promise<Descriptor> {
  const repo = ref.path;
  const report = (phase: PushPhase, bytes: number, total: number, detail?: string) => opts.progress?.layer?.(plan.diffId, phase, bytes, total, detail);
  const descriptor = (f: Form): Descriptor => ({ mediaType: layerMediaType(format, compressionOf(f.mediaType)!), digest: f.digest, size: f.size });
  report('waiting', 0, plan.size);

  for (const f of plan.forms) {
    if (await hasBlob(client, repo, f.digest, opts.signal)) {
      report('exists', f.size, f.size);
      return descriptor(f);
    }
  }
  // A mount that fails opens an ordinary upload session: the next step uses it.
  let session: string | undefined;
  for (const f of plan.forms) {
    for (const from of (f.repositories ?? []).map((r) => pathOn(r, ref.domain)).filter((p): p is string => p !== undefined && p !== repo)) {
      if (session) await cancelUpload(client, repo, session);
      const start = await startUpload(client, repo, { mount: { digest: f.digest, from }, signal: opts.signal });
      if (start.mounted) {
        report('mounted', f.size, f.size, from);
        return descriptor(f);
      }
      session = start.location;
    }
  }
  for (const f of plan.forms) {
    for (const source of f.repositories ?? []) {
      const host = hostOf(source);
      const sourceRepo = source.slice(host.length + 1);
      if (deadHosts.has(host)) continue;
      // Asked first, so that a source that is gone costs one request and no upload session.
      try {
        if (!(await hasBlob(sourceClient(host), sourceRepo, f.digest, opts.signal, 'pull'))) continue;
      } catch (err) {
        if (err instanceof RegistryError && UNREACHABLE.has(err.kind)) deadHosts.add(host);
        continue;
      }
      const location = session ?? (await startUpload(client, repo, { signal: opts.signal }).then((s) => (s.mounted ? undefined : s.location)));
      session = undefined;
      if (!location) continue;
      let sent = 0;
      const blob = sourceClient(host).getBlob(sourceRepo, f, {
        signal: opts.signal,
        onData: (n) => report('uploading', (sent += n), f.size),
      });
      let sourceFailure: unknown;
      blob.once('error', (err) => (sourceFailure = err));
      try {
        await putBlob(client, repo, location, f, blob, opts.signal);
        report('done', f.size, f.size);
        return descriptor(f);
      } catch (err) {
        blob.destroy();
        if (sourceFailure === undefined) throw err;
        // The source is gone or changed: the next one, or compressing here, still gives the layer.
        await cancelUpload(client, repo, location);
      }
    }
  }
  if (session) await cancelUpload(client, repo, session);
  return compressLayer(engine, client, repo, plan, format, opts.compressionFormat ?? 'gzip', opts.signal, report);
}

/** Compresses the stored layer's exact tar and uploads it in chunks while it is being made. */
async function compressLayer(
  engine: Engine,
  client: RegistryClient,
  repo: string,
  plan: LayerPlan,
  format: PushFormat,
  compression: PushCompression,
  signal: AbortSignal | undefined,
  report: (phase: PushPhase, bytes: number, total: number) => void,
): Promise<Descriptor> {
  const start = await startUpload(client, repo, { signal });
  if (start.mounted) throw new RegistryError(`registry ${client.host} answered an upload to ${repo} as if it were a mount`, 'protocol');
  const upload = new ChunkedUpload(client, repo, start.location, signal);
  const tarHash = createHash('sha256');
  const blobHash = createHash('sha256');
  let read = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      tarHash.update(chunk);
      read += chunk.length;
      cb(null, chunk);
    },
  });
  const compressor =
    compression === 'gzip'
      ? createParallelGzip({ level: GZIP_LEVEL, parallel: GZIP_THREADS })
      : createZstdCompress({ chunkSize: 1 << 20, params: { [zlib.ZSTD_c_compressionLevel]: 3 } });
  const tar: Readable = reassembleLayer(engine.store.layers.path(plan.diffId), engine.mapping);
  try {
    const chunks: Buffer[] = [];
    let pending = 0;
    // One chunk travels while the next is compressed; chunks must reach the registry in order.
    let inflight: Promise<void> = Promise.resolve();
    const flush = async () => {
      const data = Buffer.concat(chunks);
      const at = read;
      chunks.length = 0;
      pending = 0;
      await inflight;
      inflight = upload.write(data).then(() => report('uploading', at, plan.size));
      inflight.catch(() => {});
    };
    await pipeline(tar, tap, compressor, async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) {
        blobHash.update(chunk);
        chunks.push(chunk);
        pending += chunk.length;
        if (pending >= CHUNK_SIZE) await flush();
      }
      if (pending > 0) await flush();
      await inflight;
    });
    const diffId = `sha256:${tarHash.digest('hex')}`;
    if (diffId !== plan.diffId) {
      throw new CtrError(`layer ${plan.diffId} in the store has changed: its files now give ${diffId}; remove the image and pull or build it again`);
    }
    const digest = `sha256:${blobHash.digest('hex')}`;
    await upload.finish(digest);
    report('done', plan.size, plan.size);
    return { mediaType: layerMediaType(format, compression), digest, size: upload.size };
  } catch (err) {
    tar.destroy();
    await upload.cancel();
    throw err;
  }
}

function buildManifest(
  format: PushFormat,
  config: { digest: string; size: number },
  layers: Descriptor[],
  annotations: Record<string, string> | undefined,
): { bytes: Buffer; mediaType: string; digest: string } {
  const mediaType = format === 'docker' ? MediaType.DockerManifest : MediaType.OciManifest;
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: format === 'docker' ? MediaType.DockerConfig : MediaType.OciConfig, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    ...(annotations ? { annotations } : {}),
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  return { bytes, mediaType, digest: sha256Digest(bytes) };
}

function whyRewritten(stored: ImageManifest, pushed: Descriptor[], format: PushFormat, storedFormat: PushFormat, wanted: PushCompression | undefined): string {
  const changed = stored.layers.filter((l, i) => l.digest !== pushed[i]!.digest);
  const asked = changed.filter((l) => wanted !== undefined && compressionOf(l.mediaType) !== wanted).length;
  const unreachable = changed.length - asked;
  const reasons = [
    ...(format !== storedFormat ? [`converted to the ${format === 'docker' ? 'Docker v2 schema 2' : 'OCI'} format`] : []),
    ...(asked > 0 ? [`${asked} of ${pushed.length} layers compressed with ${wanted} as asked`] : []),
    ...(unreachable > 0 ? [`${unreachable} of ${pushed.length} layers compressed again because their original blobs could not be reached`] : []),
  ];
  return reasons.join(', ') || 'its layers are compressed differently';
}

/** The store remembers where the blobs now are, so that the next push of them skips them. */
async function record(engine: Engine, image: ImageRecord, ref: Reference, plans: LayerPlan[], pushed: Descriptor[], digest: string): Promise<void> {
  const repository = repositoryName(ref);
  plans.forEach((p, i) => {
    const d = pushed[i]!;
    engine.store.layers.noteCompressed(p.diffId, { digest: d.digest, size: d.size, mediaType: d.mediaType, repositories: [repository] });
  });
  await engine.store.updateImages((images) => {
    const rec = images.find((i) => i.id === image.id);
    const repoDigest = `${repository}@${digest}`;
    if (rec && !rec.repoDigests.includes(repoDigest)) rec.repoDigests.push(repoDigest);
  });
}

function writeDigestFile(path: string, digest: string): void {
  try {
    writeFileSync(path, digest);
  } catch (err) {
    throw new CtrError(`the image was pushed, but writing its digest to ${path} failed: ${errorMessage(err)}`);
  }
}

function annotate(err: unknown, name: string): unknown {
  if (err instanceof CtrError && !err.message.includes(name)) return new CtrError(`push ${name}: ${err.message}`, err.exitCode);
  return err;
}
