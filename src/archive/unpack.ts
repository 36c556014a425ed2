import { createHash, type Hash } from 'node:crypto';
import { closeSync, constants, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline as streamPipeline, Readable } from 'node:stream';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { LayerApplier, type Ownership } from './apply.js';
import { decompressTo, type Compression } from './decompress.js';
import { writeUpperLayer } from './diff.js';
import { TarParser } from './tar.js';
import { TAR_SPLIT_FILE, TarSplitRecorder } from './tarsplit.js';

export interface UnpackLayerOptions {
  /** The layer directory to fill: diff/ and tar-split are created in it. */
  dest: string;
  ownership: Ownership;
  maxUid: number;
  maxGid: number;
  opaqueXattr: string;
  /** The layer's media type; the magic bytes decide, this only rejects unknown compressions. */
  mediaType?: string;
  /**
   * The diff_id the caller expects and verifies itself (it hashes the same stream): the worker
   * records it in the tar-split instead of hashing a second time on its busy thread.
   */
  expectedDiffId?: string;
  user?: string;
}

export interface UnpackLayerResult {
  diffId: string;
  size: number;
  notices: string[];
}

export type { Compression };

/** Compression from the first bytes of the blob (registries do not always label layers right). */
export function sniffCompression(head: Buffer): Compression | undefined {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 263 && head.toString('latin1', 257, 262) === 'ustar') return 'none';
  if (head.length >= 512 && head.subarray(0, 512).every((b) => b === 0)) return 'none';
  return undefined;
}

const KNOWN_SUFFIX = /(\.tar|[.+]gzip|\+zstd)$/;

/** Rejects media types with a compression ctr cannot read (the magic bytes decide among the rest). */
function checkMediaType(mediaType?: string): void {
  if (mediaType && !KNOWN_SUFFIX.test(mediaType) && mediaType.includes('layer')) {
    throw new Error(`the layer media type ${mediaType} uses a compression ctr does not support (gzip, zstd or none)`);
  }
}

/**
 * The compression of a layer blob from its first bytes (registries do not always label layers
 * right), and the blob again from its start.
 */
async function sniffLayer(input: Readable, mediaType?: string): Promise<{ source: Readable; compression: Compression }> {
  checkMediaType(mediaType);
  const head = await readHead(input, 512);
  const compression = sniffCompression(head);
  if (compression === undefined) {
    throw new Error(head.length === 0 ? 'the layer blob is empty' : 'the layer blob is neither gzip, zstd nor a tar archive');
  }
  // A blob shorter than the head has already ended: then the head is all there is.
  if (input.readableEnded) return { source: Readable.from([head], { objectMode: false }), compression };
  input.unshift(head);
  return { source: input, compression };
}

/**
 * The uncompressed tar of a layer blob, for a consumer that keeps chunks: decompression runs on
 * zlib's threads. The chunks flow on as they came: no async iterator, which would concatenate
 * what is buffered.
 */
export async function openDecompressed(input: Readable, mediaType?: string): Promise<{ tar: Readable; compression: Compression }> {
  const { source, compression } = await sniffLayer(input, mediaType);
  if (compression === 'none') return { tar: source, compression };
  // Deep buffers let the zlib thread decompress ahead while the consumer is busy creating files;
  // 1 MiB chunks mean fewer callbacks and fewer external buffers for the GC than 256 KiB.
  const streamOptions = { chunkSize: 1024 * 1024, highWaterMark: 16 << 20 };
  const inflate = compression === 'gzip' ? createGunzip(streamOptions) : createZstdDecompress(streamOptions);
  streamPipeline(source, inflate, () => {});
  return { tar: inflate, compression };
}

/** The first `size` bytes of input (fewer if it ends first), read without consuming more. */
function readHead(input: Readable, size: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const settle = (err: Error | undefined, head?: Buffer) => {
      input.off('readable', onReadable);
      input.off('end', onEnd);
      input.off('error', onError);
      if (err) reject(err);
      else resolve(head!);
    };
    const onReadable = () => {
      const head = input.read(size) as Buffer | null;
      if (head !== null) settle(undefined, head);
    };
    const onEnd = () => settle(undefined, Buffer.alloc(0));
    const onError = (err: Error) => settle(err);
    input.on('readable', onReadable);
    input.on('end', onEnd);
    input.on('error', onError);
  });
}

/** A zlib or zstd failure as one sentence about the layer's data. */
export function describeDecompressError(err: unknown, compression: Compression): unknown {
  const zcode = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
  if (/^(Z_|ZSTD_)/.test(zcode)) return new Error(`the layer's ${compression} data is corrupt or truncated (${(err as Error).message})`);
  return err;
}

/**
 * A layer tar, given chunk by chunk, unpacked into dest/diff with its tar-split. Files are
 * created with their final permission bits, which a umask would change: the umask is 0 until
 * finish() or abort(), which also wait for the file queue's threads. With hash, the tar is
 * hashed here; else finish() is given its digest.
 */
class LayerTarApplier {
  private readonly split = new TarSplitRecorder();
  private readonly applier: LayerApplier;
  private readonly parser: TarParser;
  private readonly hash: Hash | undefined;
  private readonly umask: number;
  private size = 0;

  constructor(
    private readonly opts: UnpackLayerOptions,
    hash: boolean,
  ) {
    const root = join(opts.dest, 'diff');
    mkdirSync(root, 0o755);
    this.hash = hash ? createHash('sha256') : undefined;
    this.applier = new LayerApplier({ ...opts, root }, this.split);
    this.parser = new TarParser(this.applier);
    this.umask = process.umask(0);
  }

  /** The chunk is kept (the applier holds pieces of files) unless detach() follows. */
  write(chunk: Buffer): void {
    this.hash?.update(chunk);
    this.size += chunk.length;
    this.parser.write(chunk);
  }

  /** No more input for now: the file queue's threads get to work meanwhile. */
  idle(): void {
    this.applier.idle();
  }

  /** The chunks written so far may be reused after this. */
  detach(): void {
    this.applier.detach();
  }

  /** digest: the tar's sha256 when this did not hash it (the expected diff_id's is used when there is none). */
  finish(digest?: Buffer): UnpackLayerResult {
    let notices: string[];
    try {
      this.parser.end();
      notices = this.applier.finish();
    } catch (err) {
      this.abort();
      throw err;
    }
    process.umask(this.umask);
    const sum = this.hash?.digest() ?? digest ?? Buffer.from((this.opts.expectedDiffId ?? '').replace(/^sha256:/, ''), 'hex');
    if (sum.length !== 32) throw new Error('the layer tar has no digest (neither hashed nor expected)');
    // No syncfs of the layer's files (a third of a pull's time): like podman and containerd, the
    // store survives a killed ctr through rename-into-place; the tar-split itself is fsynced.
    writeDurable(join(this.opts.dest, TAR_SPLIT_FILE), this.split.serialize(this.size, sum));
    return { diffId: `sha256:${sum.toString('hex')}`, size: this.size, notices };
  }

  abort(): void {
    this.applier.abort();
    process.umask(this.umask);
  }
}

/**
 * Reads a (compressed) layer from input and unpacks it into dest; the caller removes dest on
 * failure. Decompressing and hashing (unless the caller hashes and gives expectedDiffId) happen on
 * a thread of the addon, into reused buffers (see decompressTo).
 */
export async function unpackLayer(input: Readable, opts: UnpackLayerOptions): Promise<UnpackLayerResult> {
  const { source, compression } = await sniffLayer(input, opts.mediaType);
  const layer = new LayerTarApplier(opts, false);
  let digest: Buffer | undefined;
  try {
    digest = await decompressTo(source, compression, { hash: !opts.expectedDiffId }, (chunk) => {
      layer.write(chunk);
      layer.idle();
      layer.detach();
    });
  } catch (err) {
    layer.abort();
    throw describeDecompressError(err, compression);
  }
  return layer.finish(digest);
}

/**
 * The layer of a container's changes, read from its overlay upper directory and unpacked into
 * dest in one go: the tar goes from the reading straight into the applier, through no pipe.
 */
export function unpackUpperLayer(source: { upper: string; lowers: string[] }, opts: UnpackLayerOptions): UnpackLayerResult {
  const layer = new LayerTarApplier(opts, !opts.expectedDiffId);
  try {
    writeUpperLayer(source.upper, (chunk) => layer.write(chunk), { lowers: source.lowers, ownChunks: true });
  } catch (err) {
    layer.abort();
    throw err;
  }
  return layer.finish();
}

function writeDurable(path: string, data: Buffer): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
