import { createWriteStream, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomHex } from '../random.js';
import { TarWriter } from '../archive/tar-writer.js';
import { TarType } from '../archive/tar.js';
import { CtrError, errnoCode, errorMessage } from '../errors.js';
import {
  blobMemberName,
  DOCKER_MANIFEST_FILE,
  DOCKER_REPOSITORIES_FILE,
  dockerConfigMember,
  dockerLayerMember,
  dockerManifestJson,
  dockerRepositoriesJson,
  OCI_INDEX_FILE,
  OCI_LAYOUT_FILE,
  ociIndexJson,
  ociLayoutJson,
  uncompressedManifest,
  type ArchiveImage,
} from '../image/archive.js';
import { sha256Digest } from '../image/digest.js';
import { formatReference, parseReference } from '../image/reference.js';
import { MediaType } from '../image/types.js';
import { tempName } from '../store/atomic.js';
import { openEngine, type Engine, type EngineOptions } from './context.js';
import { displayName, imageConfig, resolveImage } from './images.js';
import { reassembleLayer } from './unpack.js';

export type ArchiveFormat = 'docker-archive' | 'oci-archive' | 'oci-dir';
export const ARCHIVE_FORMATS: readonly ArchiveFormat[] = ['docker-archive', 'oci-archive', 'oci-dir'];

export interface SaveOptions extends EngineOptions {
  /** Names or ids; one image named several times is written once, with every name given. */
  images: string[];
  format?: ArchiveFormat;
  /** The archive file (or, for oci-dir, the directory): written beside it, then renamed into place. */
  output?: string;
  /** Where an archive goes without `output` (standard output). */
  stream?: Writable;
}

export interface SaveResult {
  images: { id: string; names: string[] }[];
}

interface Member {
  name: string;
  content: Buffer | { diffId: string; dir: string; size: number };
}

/** Writes images to a docker-archive, an OCI archive or an OCI layout directory, layers as stored (uncompressed). */
export async function saveImages(opts: SaveOptions): Promise<SaveResult> {
  const format = opts.format ?? 'docker-archive';
  if (!ARCHIVE_FORMATS.includes(format)) throw new CtrError(`unknown archive format "${format}": use docker-archive, oci-archive or oci-dir`);
  if (opts.images.length === 0) throw new CtrError('name at least one image to save');
  if (format === 'oci-dir' && !opts.output) throw new CtrError('--format oci-dir writes a directory: give it with -o DIR');
  if (!opts.output && !opts.stream) throw new CtrError('give an output file with -o');
  const engine = openEngine(opts);
  const images = selectImages(engine, opts.images);
  const members = format === 'docker-archive' ? dockerMembers(images) : ociMembers(images);
  if (format === 'oci-dir') await writeDirectory(engine, resolve(opts.output!), members);
  else if (opts.output) await writeFile(engine, resolve(opts.output), members);
  else await writeTar(engine, opts.stream!, members);
  return { images: images.map((i) => ({ id: i.id, names: i.names })) };
}

interface SelectedImage extends ArchiveImage {
  configBytes: Buffer;
  layers: { diffId: string; size: number; dir: string }[];
}

function selectImages(engine: Engine, args: string[]): SelectedImage[] {
  const { store } = engine;
  const byId = new Map<string, SelectedImage>();
  for (const arg of args) {
    const img = resolveImage(store, arg);
    // Saved by name: that name goes with it; by id: none, as docker does.
    let name: string | undefined;
    try {
      const full = formatReference(parseReference(arg));
      if (img.names.includes(full)) name = full;
    } catch {
      name = undefined;
    }
    let sel = byId.get(img.id);
    if (!sel) {
      const diffIds = imageConfig(store, img).rootfs.diff_ids;
      const layers = diffIds.map((diffId) => {
        const rec = store.layers.get(diffId);
        if (!rec) throw new CtrError(`layer ${diffId} of image ${arg} is missing from the store; pull the image again`);
        return { diffId, size: rec.size, dir: store.layers.path(diffId) };
      });
      sel = { id: img.id, names: [], repoTags: [], diffIds, configBytes: store.blobs.get(img.id), layers };
      byId.set(img.id, sel);
    }
    if (name && !sel.names.includes(name)) {
      sel.names.push(name);
      sel.repoTags.push(displayName(name));
    }
  }
  return [...byId.values()];
}

/** Layers once each, in the order images use them. */
function uniqueLayers(images: SelectedImage[]): SelectedImage['layers'] {
  const seen = new Map<string, SelectedImage['layers'][number]>();
  for (const img of images) for (const l of img.layers) if (!seen.has(l.diffId)) seen.set(l.diffId, l);
  return [...seen.values()];
}

// The small files first: a reader that streams the archive then knows what each layer is when it arrives.
function dockerMembers(images: SelectedImage[]): Member[] {
  return [
    { name: DOCKER_MANIFEST_FILE, content: dockerManifestJson(images) },
    { name: DOCKER_REPOSITORIES_FILE, content: dockerRepositoriesJson(images) },
    ...images.map((img) => ({ name: dockerConfigMember(img.id), content: img.configBytes })),
    ...uniqueLayers(images).map((l) => ({ name: dockerLayerMember(l.diffId), content: l })),
  ];
}

function ociMembers(images: SelectedImage[]): Member[] {
  const blobs = new Map<string, Member>();
  const manifests = images.map((img) => {
    const bytes = uncompressedManifest(img.id, img.configBytes.length, MediaType.OciConfig, img.layers);
    const digest = sha256Digest(bytes);
    blobs.set(digest, { name: blobMemberName(digest), content: bytes });
    return { descriptor: { mediaType: MediaType.OciManifest, digest, size: bytes.length }, names: img.names };
  });
  for (const img of images) blobs.set(img.id, { name: blobMemberName(img.id), content: img.configBytes });
  for (const l of uniqueLayers(images)) blobs.set(l.diffId, { name: blobMemberName(l.diffId), content: l });
  return [{ name: OCI_LAYOUT_FILE, content: ociLayoutJson() }, { name: OCI_INDEX_FILE, content: ociIndexJson(manifests) }, ...blobs.values()];
}

/** Starts reading layer n+1 while layer n is written: rootless, a layer with files only its owners can read starts a worker. */
function layerReader(engine: Engine, members: Member[]): { read(m: Member): Readable; close(): void } {
  const layers = members.filter((m) => !Buffer.isBuffer(m.content));
  const open = new Map<Member, Readable>();
  const start = (m: Member | undefined) => {
    if (m && !open.has(m)) open.set(m, reassembleLayer((m.content as { dir: string }).dir, engine.mapping));
  };
  return {
    read(m) {
      start(m);
      start(layers[layers.indexOf(m) + 1]);
      return open.get(m)!;
    },
    close() {
      for (const s of open.values()) s.destroy();
    },
  };
}

async function writeTar(engine: Engine, out: Writable, members: Member[]): Promise<void> {
  const tar = new TarWriter(out);
  const layers = layerReader(engine, members);
  const dirs = new Set<string>();
  try {
    for (const m of members) {
      for (let d = dirname(m.name); d !== '.' && !dirs.has(d); d = dirname(d)) dirs.add(d);
    }
    for (const d of [...dirs].sort()) await tar.add({ name: `${d}/`, type: TarType.Directory, mode: 0o755 });
    for (const m of members) {
      if (Buffer.isBuffer(m.content)) {
        await tar.add({ name: m.name, type: TarType.File, mode: 0o644, size: m.content.length }, m.content);
        continue;
      }
      await tar.add({ name: m.name, type: TarType.File, mode: 0o644, size: m.content.size }, layers.read(m)).catch((err: unknown) => {
        throw describeLayerError(err, m.content as { diffId: string });
      });
    }
    await tar.finish();
  } finally {
    layers.close();
  }
}

function describeLayerError(err: unknown, layer: { diffId: string }): unknown {
  if (err instanceof CtrError) return err;
  const code = errnoCode(err);
  if (code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED') return new CtrError('the reader of the archive went away before it was complete');
  return new CtrError(`cannot write layer ${layer.diffId} to the archive: ${errorMessage(err)}`);
}

/** Removes `path` on SIGINT, SIGTERM and SIGHUP, then dies of the signal as it would have. */
function removeOnSignal(path: string, remove: (p: string) => void): () => void {
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const handler = (sig: NodeJS.Signals) => {
    try {
      remove(path);
    } catch {
      // Going anyway.
    }
    disarm();
    process.kill(process.pid, sig);
  };
  const disarm = () => {
    for (const s of signals) process.off(s, handler);
  };
  for (const s of signals) process.on(s, handler);
  return disarm;
}

async function writeFile(engine: Engine, path: string, members: Member[]): Promise<void> {
  try {
    if (statSync(path).isDirectory()) throw new CtrError(`cannot save to ${path}: it is a directory; give a file name`);
  } catch (err) {
    if (err instanceof CtrError) throw err;
  }
  const tmp = tempName(path);
  let out;
  try {
    out = createWriteStream(tmp, { flags: 'wx', mode: 0o644 });
    await new Promise<void>((res, rej) => {
      out!.once('open', () => res());
      out!.once('error', rej);
    });
  } catch (err) {
    throw new CtrError(`cannot create ${path}: ${errorMessage(err).replace(/^[A-Z]+: /, '')}`);
  }
  const disarm = removeOnSignal(tmp, (p) => unlinkSync(p));
  try {
    await writeTar(engine, out, members);
    renameSync(tmp, path);
  } catch (err) {
    out.destroy();
    rmSync(tmp, { force: true });
    throw err instanceof CtrError ? err : new CtrError(`cannot write ${path}: ${errorMessage(err)}`);
  } finally {
    disarm();
  }
}

/** An OCI layout directory: made beside `path` and renamed into place; `path` may exist only as an empty directory. */
async function writeDirectory(engine: Engine, path: string, members: Member[]): Promise<void> {
  try {
    if (readdirSync(path).length > 0) throw new CtrError(`cannot save to ${path}: the directory is not empty; give a new or empty one`);
  } catch (err) {
    if (err instanceof CtrError) throw err;
    if (errnoCode(err) === 'ENOTDIR') throw new CtrError(`cannot save to ${path}: it is a file, and --format oci-dir writes a directory`);
  }
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomHex(4)}`);
  try {
    mkdirSync(tmp, { mode: 0o755 });
  } catch (err) {
    throw new CtrError(`cannot create ${path}: ${errorMessage(err).replace(/^[A-Z]+: /, '')}`);
  }
  const disarm = removeOnSignal(tmp, (p) => rmSync(p, { recursive: true, force: true }));
  const layers = layerReader(engine, members);
  try {
    for (const m of members) {
      const file = join(tmp, m.name);
      mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
      if (Buffer.isBuffer(m.content)) writeFileSync(file, m.content, { mode: 0o644 });
      else await pipeline(layers.read(m), createWriteStream(file, { mode: 0o644 })).catch((err: unknown) => {
        throw describeLayerError(err, m.content as { diffId: string });
      });
    }
    try {
      rmdirSync(path);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err instanceof CtrError ? err : new CtrError(`cannot write ${path}: ${errorMessage(err)}`);
  } finally {
    layers.close();
    disarm();
  }
}
