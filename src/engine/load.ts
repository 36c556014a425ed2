import { createHash, type Hash } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable, Transform } from 'node:stream';
import { openDecompressed } from '../archive/unpack.js';
import { displayName as tarDisplayName, TarFormatError, TarParser, TarType, type TarHeader } from '../archive/tar.js';
import { CtrError, errnoCode, errorMessage } from '../errors.js';
import {
  ArchiveFormatError,
  blobMemberName,
  digestFromMemberName,
  DOCKER_MANIFEST_FILE,
  normalizeMemberName,
  OCI_INDEX_FILE,
  OCI_LAYOUT_FILE,
  ociEntryName,
  parseDockerManifest,
  parseImageConfig,
  parseImageManifest,
  parseOciIndex,
  parseOciLayout,
  resolveMemberLink,
} from '../image/archive.js';
import { sha256Digest } from '../image/digest.js';
import { hostPlatform, selectManifest } from '../image/platform.js';
import { formatReference, parseReference } from '../image/reference.js';
import { isIndexMediaType, MediaType, type ImageConfig, type ImageManifest } from '../image/types.js';
import type { Lock } from '../store/lock.js';
import type { Store } from '../store/store.js';
import { openEngine, type Engine, type EngineOptions } from './context.js';
import { imageConfig } from './images.js';
import { addLocalImages, ingestLayer } from './ingest.js';

export interface LoadProgress {
  /** A layer starts loading (`exists`: the store has it, nothing to do). */
  layer?(name: string, phase: 'loading' | 'exists', size: number): void;
  notice?(text: string): void;
}

export interface LoadOptions extends EngineOptions {
  /** An archive file, or a directory (an OCI layout, or an unpacked docker-archive). */
  input?: string;
  /** The archive when there is no `input` (standard input). */
  stream?: Readable;
  progress?: LoadProgress;
}

export interface LoadedImage {
  id: string;
  /** Full names (docker.io/library/busybox:latest); empty for an image without a name. */
  names: string[];
}

// Members up to this size are kept in memory (manifests, configs, tiny layers); larger ones are layers.
const SMALL_MEMBER = 1 << 20;
// Two layers in the works at once: one being read from the archive, the previous one finishing.
const PARALLEL_LAYERS = 2;
const MAX_LINK_HOPS = 16;

/** What the scan learnt of one member of the archive. */
type Member =
  | { kind: 'data'; data: Buffer }
  | { kind: 'file'; path: string; size: number }
  | { kind: 'link'; target: string }
  /** Stored as a layer while the archive streamed by; `digest` is the sha256 of the member's bytes when it was taken. */
  | { kind: 'layer'; diffId: string; digest?: string }
  /** Looked like a layer but could not be stored: the reason counts only if an image uses it. */
  | { kind: 'failed'; error: unknown };

type Lookup = (name: string) => Member | undefined;

/** A layer as an image in the archive describes it. */
interface LayerRef {
  member: string;
  diffId: string;
  /** The blob digest the OCI manifest gives (differs from diffId when compressed). */
  digest?: string;
  mediaType: string;
}

interface PlannedImage {
  configBytes: Buffer;
  config: ImageConfig;
  names: string[];
  layers: LayerRef[];
}

interface LoadContext {
  engine: Engine;
  label: string;
  progress?: LoadProgress;
  /** diff_ids this load stored that the store did not have: removed again if the load fails. */
  added: Set<string>;
  before: Set<string>;
}

/**
 * Loads the images of a docker-archive (docker's and podman's layouts, docker 25+'s OCI-style
 * one), an OCI archive or an OCI layout directory. Layers stream into the store as the archive
 * is read when it says in advance what they are; otherwise they are stored as they come and
 * matched to the images at the end. Images are recorded only once every layer is verified.
 */
export async function loadImages(opts: LoadOptions): Promise<LoadedImage[]> {
  const engine = openEngine(opts);
  const { store } = engine;
  const label = opts.input ?? 'the archive on standard input';
  if (engine.mapping.warning) opts.progress?.notice?.(`Warning: ${engine.mapping.warning}`);
  await store.layers.cleanup();
  const ctx: LoadContext = { engine, label, progress: opts.progress, added: new Set(), before: new Set(store.layers.list().map((l) => l.diffId)) };
  try {
    let lookup: Lookup;
    if (opts.input !== undefined) {
      let isDir: boolean;
      try {
        isDir = statSync(opts.input).isDirectory();
      } catch (err) {
        throw new CtrError(`cannot read ${opts.input}: ${errnoCode(err) === 'ENOENT' ? 'no such file or directory' : errorMessage(err)}`);
      }
      if (isDir) lookup = directoryLookup(opts.input);
      else {
        const input = createReadStream(opts.input, { highWaterMark: 1 << 20 });
        lookup = mapLookup(await scanArchive(ctx, input));
      }
    } else {
      if (!opts.stream) throw new CtrError('give an archive to load with -i FILE');
      lookup = mapLookup(await scanArchive(ctx, opts.stream));
    }
    const planned = planImages(ctx, lookup);
    await storeLayers(ctx, lookup, planned);
    return await recordImages(store, planned);
  } catch (err) {
    await removeAdded(ctx).catch(() => {});
    if (err instanceof ArchiveFormatError) throw new CtrError(`${label} is not a valid image archive: ${err.message}`);
    throw err;
  }
}

function mapLookup(members: Map<string, Member>): Lookup {
  return (name) => members.get(name);
}

function directoryLookup(dir: string): Lookup {
  return (name) => {
    const path = join(dir, name);
    let size: number;
    try {
      const st = statSync(path);
      if (!st.isFile()) return undefined;
      size = st.size;
    } catch {
      return undefined;
    }
    return size <= SMALL_MEMBER ? { kind: 'data', data: readFileSync(path) } : { kind: 'file', path, size };
  };
}

/** Follows links between members (podman's `<id>/layer.tar -> ../<hex>.tar`). */
function resolve(lookup: Lookup, name: string): { name: string; member: Member | undefined } {
  let current = name;
  for (let hop = 0; hop < MAX_LINK_HOPS; hop++) {
    const m = lookup(current);
    if (m?.kind !== 'link') return { name: current, member: m };
    current = m.target;
  }
  return { name: current, member: undefined };
}

function dataOf(lookup: Lookup, name: string): Buffer | undefined {
  const m = resolve(lookup, name).member;
  return m?.kind === 'data' ? m.data : undefined;
}

/**
 * What each layer member is, as far as the archive's small files tell so far: lets a layer
 * stream straight into the store with its diff_id known and verified.
 */
function expectedLayers(lookup: Lookup): Map<string, LayerRef> {
  const out = new Map<string, LayerRef>();
  try {
    const plan = (() => {
      const manifest = dataOf(lookup, DOCKER_MANIFEST_FILE);
      if (manifest) return dockerImages(lookup, manifest, 'the archive', true);
      const index = dataOf(lookup, OCI_INDEX_FILE);
      if (index) return ociImages(lookup, index, 'the archive', true);
      return [];
    })();
    for (const img of plan) for (const l of img.layers) out.set(l.member, l);
  } catch {
    // Incomplete or malformed: the full check after the scan reports it.
  }
  return out;
}

class Gate {
  private waiting: Promise<unknown>[] = [];
  /** Resolves once fewer than `limit` of the tracked jobs are running. */
  async slot(limit: number): Promise<void> {
    while (this.waiting.length >= limit) await Promise.race(this.waiting);
  }
  track(p: Promise<unknown>): void {
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.waiting.push(settled);
    void settled.then(() => this.waiting.splice(this.waiting.indexOf(settled), 1));
  }
}

/** Reads the archive once, start to end: small members into memory, layers into the store. */
async function scanArchive(ctx: LoadContext, input: Readable): Promise<Map<string, Member>> {
  const { engine, label } = ctx;
  const members = new Map<string, Member>();
  const lookup = mapLookup(members);
  let expected = new Map<string, LayerRef>();
  const jobs: Promise<void>[] = [];
  const gate = new Gate();
  let failure: unknown;
  let wait: Promise<unknown> | undefined;

  // The member being read: where its bytes go.
  let name = '';
  let parts: Buffer[] | undefined;
  let hash: Hash | undefined;
  let sink: PassThrough | undefined;
  let onEnd: (() => void) | undefined;

  const startLayer = (member: string, ref: LayerRef | undefined, bytes: number) => {
    const claimed = ref?.digest ?? digestFromMemberName(member);
    // Hashed here only when the unpacker's diff_id check does not already cover the member's bytes.
    const h = claimed && claimed !== ref?.diffId ? createHash('sha256') : undefined;
    const pt = new PassThrough({ highWaterMark: 1 << 20 });
    pt.on('error', () => {});
    const what = `${member} of ${label}`;
    ctx.progress?.layer?.(ref ? ref.diffId : member, 'loading', bytes);
    const job = gate
      .slot(PARALLEL_LAYERS)
      .then(() => ingestLayer(engine, pt, { mediaType: ref?.mediaType ?? '', name: what, diffId: ref?.diffId, notice: ctx.progress?.notice }))
      .then((got) => {
        if (!ctx.before.has(got.diffId)) ctx.added.add(got.diffId);
        const digest = h ? `sha256:${h.digest('hex')}` : claimed === got.diffId ? got.diffId : undefined;
        members.set(member, { kind: 'layer', diffId: got.diffId, digest });
      });
    gate.track(job);
    jobs.push(
      job.catch((err: unknown) => {
        pt.destroy();
        // A layer the images turn out to need fails the load then; a member that only looked like one does not.
        if (ref) failure ??= err;
        else members.set(member, { kind: 'failed', error: err });
      }),
    );
    sink = pt;
    hash = h;
    onEnd = () => pt.end();
  };

  const parser = new TarParser({
    raw() {},
    entry(header: TarHeader) {
      const member = normalizeMemberName(tarDisplayName(header.name));
      name = member ?? '';
      const size = header.size;
      parts = undefined;
      hash = undefined;
      sink = undefined;
      onEnd = undefined;
      if (!member) return;
      if (header.type === TarType.Symlink) {
        const target = resolveMemberLink(member, tarDisplayName(header.linkname));
        if (target) members.set(member, { kind: 'link', target });
        return;
      }
      if (header.type === TarType.HardLink) {
        const target = normalizeMemberName(tarDisplayName(header.linkname));
        if (target) members.set(member, { kind: 'link', target });
        return;
      }
      if (header.type !== TarType.File && header.type !== TarType.OldFile && header.type !== TarType.Contiguous) return;
      const ref = expected.get(member);
      if (ref) {
        if (engine.store.layers.has(ref.diffId)) {
          // The store has this content already: the archive's copy is not needed.
          ctx.progress?.layer?.(ref.diffId, 'exists', size);
          members.set(member, { kind: 'layer', diffId: ref.diffId });
          return;
        }
        startLayer(member, ref, size);
        return;
      }
      if (size <= SMALL_MEMBER) {
        const chunks: Buffer[] = [];
        parts = chunks;
        onEnd = () => {
          members.set(member, { kind: 'data', data: Buffer.concat(chunks) });
          if (!member.endsWith('.tar')) expected = expectedLayers(lookup);
        };
        return;
      }
      if (member.endsWith('.tar') || member.startsWith('blobs/')) {
        const claimed = digestFromMemberName(member);
        if (claimed && engine.store.layers.has(claimed)) {
          // Named after content the store has: check that it is, without storing it again.
          const h = createHash('sha256');
          hash = h;
          ctx.progress?.layer?.(claimed, 'exists', size);
          onEnd = () => {
            const got = `sha256:${h.digest('hex')}`;
            members.set(member, got === claimed ? { kind: 'layer', diffId: claimed, digest: claimed } : { kind: 'failed', error: corruptMember(label, member) });
          };
          return;
        }
        startLayer(member, undefined, size);
      }
    },
    data(bytes: Buffer) {
      if (parts) parts.push(Buffer.from(bytes));
      hash?.update(bytes);
      if (sink && !sink.destroyed && !sink.write(bytes)) wait = new Promise((res) => sink!.once('drain', res));
    },
    entryEnd() {
      onEnd?.();
      parts = undefined;
      hash = undefined;
      sink = undefined;
      onEnd = undefined;
      name = '';
    },
  });

  let opened: { tar: Readable };
  try {
    opened = await openDecompressed(input);
  } catch (err) {
    input.destroy();
    if (/empty/.test(errorMessage(err))) throw new CtrError(`${label} is empty: there is no image archive to load`);
    throw new CtrError(`${label} is not an image archive: it is neither a tar file nor gzip or zstd compressed`);
  }
  const { tar } = opened;
  try {
    await new Promise<void>((resolveScan, rejectScan) => {
      let busy = false;
      tar.on('data', (chunk: Buffer) => {
        if (busy) return;
        try {
          parser.write(chunk);
        } catch (err) {
          busy = true;
          rejectScan(err);
          return;
        }
        if (failure !== undefined) {
          busy = true;
          rejectScan(failure);
          return;
        }
        if (wait) {
          const w = wait;
          wait = undefined;
          tar.pause();
          // A layer whose store failed never drains: its failure ends the wait too.
          void Promise.race([w, ...jobs.slice(-1)]).then(() => {
            if (failure !== undefined) {
              busy = true;
              rejectScan(failure);
            } else tar.resume();
          });
        }
      });
      tar.on('end', () => {
        try {
          parser.end();
          resolveScan();
        } catch (err) {
          rejectScan(err);
        }
      });
      tar.on('error', rejectScan);
      input.on('error', rejectScan);
    });
  } catch (err) {
    tar.destroy();
    input.destroy();
    const reason = scanError(label, name, err);
    // An error, not a bare destroy: the unpacker then stops at once instead of waiting for its worker.
    sink?.destroy(reason instanceof Error ? reason : new CtrError(errorMessage(reason)));
    await Promise.all(jobs);
    throw reason;
  }
  await Promise.all(jobs);
  if (failure !== undefined) throw failure;
  return members;
}

function corruptMember(label: string, member: string): CtrError {
  return new CtrError(`${label} is corrupt: ${member} does not hold the content its name says (its digest differs)`);
}

function scanError(label: string, member: string, err: unknown): unknown {
  if (err instanceof CtrError) return err;
  if (err instanceof TarFormatError) {
    if (/truncated/.test(err.message)) return new CtrError(`${label} is truncated: it ends in the middle of ${member || 'a member'}`);
    return new CtrError(`${label} is not a valid tar archive: ${err.message}`);
  }
  if (/^(Z_|ZSTD_)/.test(errnoCode(err) ?? '')) return new CtrError(`${label} is corrupt or truncated: its compressed data cannot be read (${errorMessage(err)})`);
  return new CtrError(`cannot read ${label}: ${errorMessage(err)}`);
}

function normalizeName(label: string, name: string): string {
  try {
    const ref = parseReference(name);
    if (ref.digest) throw new Error('a digest');
    return formatReference(ref);
  } catch {
    throw new CtrError(`${label} names an image "${name}", which is not a valid NAME[:TAG] reference`);
  }
}

function checkDigest(label: string, member: string, data: Buffer, digest: string | undefined): void {
  if (digest && sha256Digest(data) !== digest) throw corruptMember(label, member);
}

function dockerImages(lookup: Lookup, manifest: Buffer, label: string, partial = false): PlannedImage[] {
  return parseDockerManifest(manifest).map((entry, i) => {
    const configName = resolve(lookup, normalizeMemberName(entry.Config) ?? entry.Config).name;
    const configBytes = dataOf(lookup, configName);
    if (!configBytes) throw new CtrError(`${label} is incomplete: ${entry.Config}, the config of image ${i + 1} in ${DOCKER_MANIFEST_FILE}, is missing`);
    if (!partial) checkDigest(label, configName, configBytes, digestFromMemberName(configName));
    const config = parseImageConfig(configBytes, entry.Config);
    if (config.rootfs.diff_ids.length !== entry.Layers.length) {
      throw new CtrError(`${label} is corrupt: image ${i + 1} lists ${entry.Layers.length} layers in ${DOCKER_MANIFEST_FILE} but its config has ${config.rootfs.diff_ids.length}`);
    }
    const names = partial ? [] : (entry.RepoTags ?? []).map((t) => normalizeName(label, t));
    const layers = entry.Layers.map((l, n): LayerRef => {
      const member = resolve(lookup, normalizeMemberName(l) ?? l).name;
      const source = entry.LayerSources?.[config.rootfs.diff_ids[n]!];
      return { member, diffId: config.rootfs.diff_ids[n]!, mediaType: source?.mediaType ?? '' };
    });
    return { configBytes, config, names, layers };
  });
}

function ociImages(lookup: Lookup, indexBytes: Buffer, label: string, partial = false): PlannedImage[] {
  if (!partial) {
    const layout = dataOf(lookup, OCI_LAYOUT_FILE);
    if (layout) parseOciLayout(layout);
  }
  const blob = (digest: string, what: string): Buffer => {
    const member = blobMemberName(digest);
    const data = dataOf(lookup, member);
    if (!data) throw new CtrError(`${label} is incomplete: ${member}, ${what}, is missing`);
    if (!partial) checkDigest(label, member, data, digest);
    return data;
  };
  const byManifest = new Map<string, PlannedImage>();
  const index = parseOciIndex(indexBytes);
  for (const top of index.manifests) {
    let desc = top;
    if (isIndexMediaType(top.mediaType)) {
      const nested = parseOciIndex(blob(top.digest, 'an image index'), `index ${top.digest}`);
      const chosen = selectManifest(nested.manifests, hostPlatform());
      if (!chosen) continue;
      desc = chosen;
    } else if (top.mediaType !== MediaType.OciManifest && top.mediaType !== MediaType.DockerManifest) continue;
    const name = ociEntryName(top);
    let img = byManifest.get(desc.digest);
    if (!img) {
      const manifest: ImageManifest = parseImageManifest(blob(desc.digest, 'an image manifest'), `manifest ${desc.digest}`);
      const configBytes = blob(manifest.config.digest, 'an image config');
      const config = parseImageConfig(configBytes, `config ${manifest.config.digest}`);
      if (config.rootfs.diff_ids.length !== manifest.layers.length) {
        throw new CtrError(`${label} is corrupt: manifest ${desc.digest} lists ${manifest.layers.length} layers but its config has ${config.rootfs.diff_ids.length}`);
      }
      const layers = manifest.layers.map((l, n): LayerRef => ({ member: blobMemberName(l.digest), diffId: config.rootfs.diff_ids[n]!, digest: l.digest, mediaType: l.mediaType }));
      img = { configBytes, config, names: [], layers };
      byManifest.set(desc.digest, img);
    }
    if (name && !partial) {
      const full = normalizeName(label, name);
      if (!img.names.includes(full)) img.names.push(full);
    }
  }
  if (!partial && byManifest.size === 0) throw new CtrError(`${label} holds no image ctr can load (its ${OCI_INDEX_FILE} lists no image manifest)`);
  return [...byManifest.values()];
}

function planImages(ctx: LoadContext, lookup: Lookup): PlannedImage[] {
  const manifest = dataOf(lookup, DOCKER_MANIFEST_FILE);
  if (manifest) return dockerImages(lookup, manifest, ctx.label);
  const index = dataOf(lookup, OCI_INDEX_FILE);
  if (index) return ociImages(lookup, index, ctx.label);
  throw new CtrError(`${ctx.label} is not an image archive: it has neither ${DOCKER_MANIFEST_FILE} (docker-archive) nor ${OCI_INDEX_FILE} (OCI layout)`);
}

/** Every layer of every image in the store and verified; members not streamed yet are stored now. */
async function storeLayers(ctx: LoadContext, lookup: Lookup, images: PlannedImage[]): Promise<void> {
  const { engine, label } = ctx;
  for (const img of images) {
    for (const [n, layer] of img.layers.entries()) {
      const m = lookup(layer.member);
      if (!m) throw new CtrError(`${label} is incomplete: ${layer.member}, layer ${n + 1} of an image in it, is missing`);
      if (m.kind === 'failed') throw m.error;
      if (m.kind === 'layer') {
        if (m.diffId !== layer.diffId) {
          throw new CtrError(`${label} is corrupt: layer ${layer.member} holds content ${m.diffId}, but the image config says ${layer.diffId}`);
        }
        if (layer.digest && m.digest && m.digest !== layer.digest) throw corruptMember(label, layer.member);
        continue;
      }
      if (m.kind === 'link') continue;
      await storeMember(ctx, layer, m);
    }
  }
  for (const img of images) for (const l of img.layers) if (!engine.store.layers.has(l.diffId)) throw new CtrError(`internal: layer ${l.diffId} was not stored`);
}

async function storeMember(ctx: LoadContext, layer: LayerRef, m: Extract<Member, { kind: 'data' | 'file' }>): Promise<void> {
  const { engine, label } = ctx;
  const size = m.kind === 'data' ? m.data.length : m.size;
  if (engine.store.layers.has(layer.diffId)) {
    ctx.progress?.layer?.(layer.diffId, 'exists', size);
    return;
  }
  ctx.progress?.layer?.(layer.diffId, 'loading', size);
  const source = m.kind === 'data' ? Readable.from([m.data]) : createReadStream(m.path, { highWaterMark: 1 << 20 });
  let input: Readable = source;
  let digest: Promise<string> | undefined;
  if (layer.digest && layer.digest !== layer.diffId) {
    // A compressed blob: the unpacker checks what it decompresses to; its own digest is checked here.
    const h = createHash('sha256');
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        h.update(chunk);
        cb(null, chunk);
      },
    });
    input = source.pipe(tap);
    source.on('error', (err: Error) => tap.destroy(err));
    digest = new Promise((res) => tap.on('end', () => res(`sha256:${h.digest('hex')}`)));
  }
  const got = await ingestLayer(engine, input, { mediaType: layer.mediaType, name: `${layer.member} of ${label}`, diffId: layer.diffId, notice: ctx.progress?.notice });
  if (!ctx.before.has(got.diffId)) ctx.added.add(got.diffId);
  if (digest && (await digest) !== layer.digest) throw corruptMember(label, layer.member);
}

/**
 * Configs into the blob store and every image into the index at once, as addLocalImage does for
 * one. The images' layers are locked (in one order, as a pull takes them) from the check that
 * they are all there until the images are recorded: an rmi meanwhile cannot take one of them.
 */
async function recordImages(store: Store, images: PlannedImage[]): Promise<LoadedImage[]> {
  const held: Lock[] = [];
  try {
    for (const d of [...new Set(images.flatMap((img) => img.config.rootfs.diff_ids))].sort()) {
      held.push(await store.layers.lockLayer(d));
      if (!store.layers.has(d)) throw new CtrError(`layer ${d} was removed (by an rmi or image prune) while the archive was loaded; load it again`);
    }
    const ids = await addLocalImages(store, images.map((img) => ({ config: img.config, configBytes: img.configBytes, names: img.names })));
    return images.map((img, i) => ({ id: ids[i]!, names: img.names }));
  } finally {
    for (const lock of held) lock.release();
  }
}

/** Removes the layers a failed load stored, unless an image or container has come to use them meanwhile. */
async function removeAdded(ctx: LoadContext): Promise<void> {
  const { store } = ctx.engine;
  for (const diffId of ctx.added) {
    const lock = await store.layers.lockLayer(diffId);
    try {
      const used =
        store.images.list().some((img) => imageConfig(store, img).rootfs.diff_ids.includes(diffId)) ||
        store.containers.list().some((c) => store.blobs.has(c.image) && store.blobs.getJson<ImageConfig>(c.image).rootfs.diff_ids.includes(diffId));
      if (!used) await store.layers.remove(diffId);
    } finally {
      lock.release();
    }
  }
}
