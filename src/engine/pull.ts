import { pipeline } from 'node:stream/promises';
import { CtrError } from '../errors.js';
import { selectManifest, formatPlatform, hostPlatform, parsePlatform } from '../image/platform.js';
import { formatReference, parseReference, repositoryName, type Reference } from '../image/reference.js';
import {
  isIndexMediaType,
  isManifestMediaType,
  isSchema1MediaType,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type Platform,
} from '../image/types.js';
import { MANIFEST_ACCEPT, RegistryClient } from '../registry/client.js';
import type { ImageRecord } from '../store/images.js';
import type { Lock } from '../store/lock.js';
import { openEngine, type Engine, type EngineOptions } from './context.js';
import { abandonIngest } from './ingest.js';
import { startUnpack, warmUnpackWorker } from './unpack.js';

/** How to reach registries: the flags pull, login, push and search share. */
export interface RegistryAccessOptions {
  tlsVerify?: boolean;
  certDir?: string;
  authFile?: string;
  /** USER[:PASS] given on the command line (--creds). */
  creds?: string;
}

export type LayerPhase = 'exists' | 'waiting' | 'downloading' | 'done';

/** What a pull reports while it works; the CLI draws bars or plain lines from it. */
export interface PullProgress {
  resolved?(reference: string, manifestDigest: string, layers: Descriptor[]): void;
  layer?(digest: string, phase: LayerPhase, bytes: number, total: number): void;
  writingManifest?(): void;
  notice?(text: string): void;
}

export interface PullOptions extends EngineOptions, RegistryAccessOptions {
  reference: string;
  /** os/arch[/variant]; default: this host. */
  platform?: string;
  /** Pull every tag of the repository (the reference must not name a tag or digest). */
  allTags?: boolean;
  progress?: PullProgress;
  signal?: AbortSignal;
}

export interface PullResult {
  id: string;
  reference: string;
}

// Two at once: on two cores more workers only contend (measured with bench/pull.sh).
const PARALLEL_LAYERS = 2;

/** endpoint: the host that serves the API when it is not the registry's own (Docker Hub's search). */
export function registryClient(ref: Pick<Reference, 'domain'>, opts: RegistryAccessOptions, endpoint?: string): RegistryClient {
  const credentials = opts.creds ? splitCreds(opts.creds) : undefined;
  return new RegistryClient(ref.domain, { tlsVerify: opts.tlsVerify, certDir: opts.certDir, authFile: opts.authFile, credentials, endpoint });
}

function splitCreds(creds: string): { username: string; password: string } {
  const i = creds.indexOf(':');
  if (i <= 0) throw new CtrError('--creds must be USERNAME:PASSWORD');
  return { username: creds.slice(0, i), password: creds.slice(i + 1) };
}

/** Pulls an image (or the right platform of a multi-platform one) into the store. */
export async function pull(opts: PullOptions): Promise<PullResult[]> {
  const engine = openEngine(opts);
  if (!opts.allTags) return [await pullInto(engine, opts)];
  const last = opts.reference.split('/').pop() ?? '';
  if (last.includes(':') || last.includes('@')) throw new CtrError(`--all-tags pulls every tag of a repository: give ${opts.reference.replace(/[:@][^/]*$/, '')} without a tag or digest`);
  const ref = parseReference(opts.reference);
  const repo = repositoryName(ref);
  const tags = await registryClient(ref, opts).listTags(ref.path);
  if (tags.length === 0) throw new CtrError(`repository ${repo} has no tags`);
  const results: PullResult[] = [];
  for (const tag of tags) results.push(await pullInto(engine, { ...opts, reference: `${repo}:${tag}` }));
  return results;
}

export async function pullInto(engine: Engine, opts: PullOptions): Promise<PullResult> {
  const ref = parseReference(opts.reference);
  const name = formatReference(ref);
  const platform = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
  const client = registryClient(ref, opts);
  const repo = ref.path;
  const { store } = engine;

  if (engine.mapping.warning) opts.progress?.notice?.(`Warning: ${engine.mapping.warning}`);
  // The registry's first answer takes round trips (HTTPS is tried first): asked before the local work.
  const asked = client.getManifest(repo, ref.digest ?? ref.tag ?? 'latest', MANIFEST_ACCEPT).catch((err: unknown) => {
    throw annotate(err, name);
  });
  asked.catch(() => {});
  warmUnpackWorker(engine.mapping);
  await store.layers.cleanup();
  const top = await asked;
  let manifestBytes = top.body;
  let manifestDigest = top.digest;
  let manifestMediaType = top.mediaType;
  let indexDigest: string | undefined;

  if (isSchema1MediaType(top.mediaType)) {
    throw new CtrError(`${name} uses the Docker schema 1 manifest format, which ctr does not read; push it again with a current docker, podman or skopeo`);
  }
  if (isIndexMediaType(top.mediaType)) {
    const index = parseJson<ImageIndex>(top.body, `the image index of ${name}`);
    const chosen = selectManifest(index.manifests ?? [], platform);
    if (!chosen) {
      const have = (index.manifests ?? []).filter((d) => d.platform).map((d) => formatPlatform(d.platform as Platform));
      throw new CtrError(`${name} has no image for ${formatPlatform(platform)} (it has ${have.join(', ') || 'none'}); choose one with --platform`);
    }
    indexDigest = top.digest;
    const m = await client.getManifest(repo, chosen.digest, MANIFEST_ACCEPT);
    manifestBytes = m.body;
    manifestDigest = m.digest;
    manifestMediaType = m.mediaType;
  }
  if (!isManifestMediaType(manifestMediaType)) {
    throw new CtrError(`${name} has a manifest of type ${manifestMediaType || 'unknown'}, which is not an image ctr can run`);
  }
  const manifest = parseJson<ImageManifest>(manifestBytes, `the manifest of ${name}`);
  if (!manifest.config || !Array.isArray(manifest.layers)) throw new CtrError(`the manifest of ${name} has no config or layers; the image is malformed`);

  const configBytes = await client.getBlobBuffer(repo, manifest.config);
  const config = parseJson<ImageConfig>(configBytes, `the image config of ${name}`);
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== manifest.layers.length) {
    throw new CtrError(`${name} is malformed: its manifest lists ${manifest.layers.length} layers but its config ${diffIds.length} diff_ids`);
  }
  if (!indexDigest && (config.os !== platform.os || config.architecture !== platform.architecture) && opts.platform) {
    throw new CtrError(`${name} is for ${config.os}/${config.architecture}, not ${formatPlatform(platform)}`);
  }

  opts.progress?.resolved?.(name, manifestDigest, manifest.layers);
  const missing = new Set(diffIds.filter((d) => !store.layers.has(d))).size;
  warmUnpackWorker(engine.mapping, Math.min(missing, PARALLEL_LAYERS));
  // Largest first: the big layers set the pace, the small ones fill the gaps they leave. A layer
  // the image lists twice is fetched once.
  const order = manifest.layers
    .map((_, i) => i)
    .filter((i) => diffIds.indexOf(diffIds[i]!) === i)
    .sort((a, b) => manifest.layers[b]!.size - manifest.layers[a]!.size);
  // Each layer's lock is held until the image is recorded: until then no image refers to a layer
  // this pull found or fetched, and rmi or image prune would take it. They are taken in one
  // order by every ctr, so that two pulls sharing layers never wait for each other in a circle.
  const held: Lock[] = [];
  try {
    for (const d of [...new Set(diffIds)].sort()) held.push(await store.layers.lockLayer(d, opts.signal));
    await runLimited(
      order.map((i) => () => fetchLayer(engine, client, repo, manifest.layers[i]!, diffIds[i]!, opts)),
      PARALLEL_LAYERS,
    );
    // The same layer listed again under another compressed digest: remember that form too.
    manifest.layers.forEach((desc, i) => {
      if (!order.includes(i)) store.layers.noteCompressed(diffIds[i]!, { digest: desc.digest, size: desc.size, mediaType: desc.mediaType, repositories: [`${client.host}/${repo}`] });
    });

    opts.progress?.writingManifest?.();
    const id = store.blobs.put(configBytes, manifest.config.digest);
    store.blobs.put(manifestBytes, manifestDigest);
    if (indexDigest) store.blobs.put(top.body, indexDigest);

    const size = diffIds.reduce((sum, d) => sum + (store.layers.get(d)?.size ?? 0), 0);
    const repoDigest = `${repositoryName(ref)}@${indexDigest ?? manifestDigest}`;
    const tagName = ref.tag ? name.replace(/@.*$/, '') : undefined;
    await store.updateImages((images) => {
      addImage(images, {
        id,
        names: tagName ? [tagName] : [],
        repoDigests: [repoDigest],
        manifestDigest,
        manifestMediaType,
        indexDigest,
        created: config.created,
        size,
        added: new Date().toISOString(),
      });
    });
    return { id, reference: name };
  } finally {
    for (const lock of held) lock.release();
  }
}

/** Adds or merges an image; a name moves to the new image, leaving the old one dangling. */
export function addImage(images: ImageRecord[], rec: ImageRecord): void {
  for (const other of images) {
    if (other.id !== rec.id) other.names = other.names.filter((n) => !rec.names.includes(n));
  }
  const existing = images.find((i) => i.id === rec.id);
  if (!existing) {
    images.push(rec);
    return;
  }
  existing.names = [...new Set([...existing.names, ...rec.names])];
  existing.repoDigests = [...new Set([...existing.repoDigests, ...rec.repoDigests])];
  existing.manifestDigest = rec.manifestDigest;
  existing.manifestMediaType = rec.manifestMediaType;
  existing.indexDigest = rec.indexDigest ?? existing.indexDigest;
}

async function fetchLayer(
  engine: Engine,
  client: RegistryClient,
  repo: string,
  desc: Descriptor,
  diffId: string,
  opts: PullOptions,
): Promise<void> {
  const { layers } = engine.store;
  const report = (phase: LayerPhase, bytes: number) => opts.progress?.layer?.(desc.digest, phase, bytes, desc.size);
  const form = { digest: desc.digest, size: desc.size, mediaType: desc.mediaType, repositories: [`${client.host}/${repo}`] };
  // The caller holds the layer's lock.
  if (layers.has(diffId)) {
    layers.noteCompressed(diffId, form);
    report('exists', desc.size);
    return;
  }
  const ingest = await layers.begin(diffId);
  const unpack = startUnpack({ dest: ingest.dir, mapping: engine.mapping, mediaType: desc.mediaType, name: desc.digest, diffId, decompressInWorker: true });
  try {
    let received = 0;
    report('downloading', 0);
    const blob = client.getBlob(repo, desc, {
      signal: opts.signal,
      onData: (n) => {
        received += n;
        report('downloading', received);
      },
    });
    await pipeline(blob, unpack.input);
    const result = await unpack.done;
    if (result.diffId !== diffId) {
      throw new CtrError(`layer ${desc.digest} unpacks to content ${result.diffId}, but the image config says ${diffId}; the image is corrupt`);
    }
    for (const n of result.notices) opts.progress?.notice?.(n);
    ingest.commit({ diffId, size: result.size, compressed: [form] });
    report('done', desc.size);
  } catch (err) {
    await abandonIngest(err, unpack, ingest);
  }
}

export async function runLimited(tasks: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (next < tasks.length && failed === undefined) {
      const task = tasks[next++]!;
      try {
        await task();
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  if (failed !== undefined) throw failed;
}

function parseJson<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch {
    throw new CtrError(`${what} is not valid JSON; the registry sent something that is not an image`);
  }
}

function annotate(err: unknown, name: string): unknown {
  if (err instanceof CtrError && !err.message.includes(name)) return new CtrError(`pull ${name}: ${err.message}`, err.exitCode);
  return err;
}
