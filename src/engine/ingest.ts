import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CtrError } from '../errors.js';
import { MediaType, type ImageConfig, type ImageManifest } from '../image/types.js';
import type { LayerIngest, LayerRecord } from '../store/layers.js';
import type { Lock } from '../store/lock.js';
import type { Store } from '../store/store.js';
import type { Engine } from './context.js';
import { addImage } from './pull.js';
import { startUnpack, unpackUpper, type LayerUnpack } from './unpack.js';

export interface IngestLayerOptions {
  /** The stream's media type (gzip, zstd or plain tar; the magic bytes decide in the end). */
  mediaType: string;
  /** How messages name the layer: a file in an archive, a digest... */
  name: string;
  /** When the content is known in advance (an image config's diff_id): verified, and skipped if present. */
  diffId?: string;
  /** The compressed form the stream is, when it is one a registry may have. */
  compressed?: LayerRecord['compressed'][number];
  notice?: (text: string) => void;
  /**
   * Receives the layer's lock instead of it being released: the caller holds it until the image
   * that uses the layer is recorded, so that an rmi or image prune meanwhile cannot take it.
   */
  hold?: Lock[];
}

export interface IngestedLayer {
  diffId: string;
  /** Bytes of the uncompressed tar. */
  size: number;
}

/** A container's overlay upper directory and its image's layer directories (top first): its changes are the layer. */
export interface UpperDirectory {
  upper: string;
  lowers: string[];
}

/**
 * Stores a layer tar read from a stream (an archive member, an import) or the changes in an
 * upper directory (a commit: read and unpacked by one worker, no tar between processes):
 * unpacked once under its diff_id with the tar-split that rebuilds it, like a pulled layer. A
 * layer the store already has is not unpacked again; an interrupted ingest leaves nothing behind.
 */
export async function ingestLayer(engine: Engine, input: Readable | UpperDirectory, opts: IngestLayerOptions): Promise<IngestedLayer> {
  const { layers } = engine.store;
  let lock = opts.diffId ? await layers.lockLayer(opts.diffId) : undefined;
  try {
    const present = opts.diffId ? layers.get(opts.diffId) : undefined;
    if (present) {
      if (isStream(input)) input.destroy();
      if (opts.compressed) layers.noteCompressed(present.diffId, opts.compressed);
      return { diffId: present.diffId, size: present.size };
    }
    const ingest = await layers.begin(opts.diffId);
    const stream = isStream(input) ? input : undefined;
    const fed = stream
      ? startUnpack({ dest: ingest.dir, mapping: engine.mapping, mediaType: opts.mediaType, name: opts.name, diffId: opts.diffId })
      : undefined;
    const unpack = fed ?? unpackUpper({ dest: ingest.dir, mapping: engine.mapping, name: opts.name, upper: (input as UpperDirectory).upper, lowers: (input as UpperDirectory).lowers });
    try {
      if (stream && fed) await pipeline(stream, fed.input);
      const result = await unpack.done;
      if (opts.diffId && result.diffId !== opts.diffId) {
        throw new CtrError(`layer ${opts.name} unpacks to content ${result.diffId}, but the image config says ${opts.diffId}; the image is corrupt`);
      }
      for (const n of result.notices) opts.notice?.(n);
      // Content known only now: its lock from here on (a commit of the same content meanwhile wins).
      lock ??= await layers.lockLayer(result.diffId);
      ingest.commit({ diffId: result.diffId, size: result.size, compressed: opts.compressed ? [opts.compressed] : [] });
      return { diffId: result.diffId, size: result.size };
    } catch (err) {
      return await abandonIngest(err, unpack, ingest);
    }
  } finally {
    if (lock && opts.hold) opts.hold.push(lock);
    else lock?.release();
  }
}

/** Runs fn with a list for ingestLayer's hold option, and releases what it holds afterwards. */
export async function holdingLayers<T>(fn: (hold: Lock[]) => Promise<T>): Promise<T> {
  const hold: Lock[] = [];
  try {
    return await fn(hold);
  } finally {
    for (const lock of hold) lock.release();
  }
}

/**
 * Stops a failed unpack and drops its half-made layer, then throws the better reason: a broken
 * pipe to the worker says less than the worker's own (a full disk, a corrupt layer...).
 */
export async function abandonIngest(err: unknown, unpack: Pick<LayerUnpack, 'done' | 'abort'>, ingest: Pick<LayerIngest, 'abort'>): Promise<never> {
  const workerReason = err instanceof CtrError ? undefined : await unpack.done.then(() => undefined, (e: unknown) => e);
  unpack.abort();
  await unpack.done.catch(() => {});
  await ingest.abort();
  throw workerReason instanceof CtrError ? workerReason : err;
}

function isStream(input: Readable | UpperDirectory): input is Readable {
  return typeof (input as Readable).pipe === 'function';
}

export interface LocalImage {
  /** The image config; rootfs.diff_ids must all be layers the store has. */
  config: ImageConfig;
  /** The config exactly as it came (a loaded archive): its digest is the image id. Else config is serialised. */
  configBytes?: Buffer;
  /** Full references to name it by (already normalised); may be empty (dangling). */
  names: string[];
  repoDigests?: string[];
  /** The manifest's media types: OCI (the default) or Docker's v2 schema 2 (commit/import --format docker). */
  format?: 'oci' | 'docker';
}

/**
 * Records an image made on this machine (commit, import, load): its config and an OCI manifest
 * that lists the layers uncompressed, as they are stored. A push compresses them.
 */
export async function addLocalImage(engine: Engine, image: LocalImage): Promise<string> {
  return (await addLocalImages(engine.store, [image]))[0]!;
}

/** addLocalImage for several images, recorded in one update of the image index. */
export async function addLocalImages(store: Store, images: LocalImage[]): Promise<string[]> {
  const prepared = images.map((image) => {
    const docker = image.format === 'docker';
    const layers = image.config.rootfs.diff_ids.map((diffId) => {
      const rec = store.layers.get(diffId);
      if (!rec) throw new Error(`internal: layer ${diffId} is not in the store`);
      return { mediaType: docker ? MediaType.DockerLayer : MediaType.OciLayer, digest: diffId, size: rec.size };
    });
    const configBytes = image.configBytes ?? Buffer.from(JSON.stringify(image.config));
    const id = store.blobs.put(configBytes);
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: docker ? MediaType.DockerManifest : MediaType.OciManifest,
      config: { mediaType: docker ? MediaType.DockerConfig : MediaType.OciConfig, digest: id, size: configBytes.length },
      layers,
    };
    const manifestDigest = store.blobs.put(Buffer.from(JSON.stringify(manifest)));
    return { image, id, manifestDigest, mediaType: manifest.mediaType!, size: layers.reduce((sum, l) => sum + l.size, 0) };
  });
  await store.updateImages((index) => {
    for (const { image, id, manifestDigest, mediaType, size } of prepared) {
      // An image the store already has (say, pulled) keeps its registry manifest: push reuses it.
      const existing = index.find((i) => i.id === id);
      addImage(index, {
        id,
        names: image.names,
        repoDigests: image.repoDigests ?? [],
        manifestDigest: existing?.manifestDigest ?? manifestDigest,
        manifestMediaType: existing?.manifestMediaType ?? mediaType,
        indexDigest: existing?.indexDigest,
        created: image.config.created,
        size,
        added: new Date().toISOString(),
      });
    }
  });
  return prepared.map((p) => p.id);
}
