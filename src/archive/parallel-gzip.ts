import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import { constants, crc32, deflateRaw, type ZlibOptions } from 'node:zlib';

const deflateRawAsync = promisify<Buffer, ZlibOptions, Buffer>(deflateRaw);

export interface ParallelGzipOptions {
  level: number;
  /** Uncompressed bytes per block (default 1 MiB). */
  blockSize?: number;
  /** Blocks compressed at once on zlib's thread pool (default 2). */
  parallel?: number;
}

// deflate's window: each block is compressed with the 32 KiB before it as its dictionary.
const WINDOW = 32 * 1024;
// ID1 ID2, deflate, no flags, mtime 0, no extra flags, OS unknown: the same bytes for the same input.
const HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]);

/**
 * gzip on several cores, as pigz does: the input is cut into blocks, each deflated on zlib's
 * thread pool with the previous 32 KiB as dictionary and ended by a sync flush, the last one
 * finished; the pieces, in order, form one ordinary gzip member. Same input, same output.
 */
export function createParallelGzip(opts: ParallelGzipOptions): Transform {
  const blockSize = opts.blockSize ?? 1 << 20;
  const parallel = opts.parallel ?? 2;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let window: Buffer = Buffer.alloc(0);
  let crc = 0;
  let total = 0;
  const queue: Promise<Buffer>[] = [];

  const submit = (block: Buffer, last: boolean): void => {
    crc = crc32(block, crc);
    total += block.length;
    const options: ZlibOptions = { level: opts.level, finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH };
    if (window.length > 0) options.dictionary = window;
    const job = deflateRawAsync(block, options);
    job.catch(() => {});
    queue.push(job);
    window = Buffer.from(block.subarray(Math.max(0, block.length - WINDOW)));
  };

  const takeBlock = (): Buffer => {
    const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
    const block = all.subarray(0, blockSize);
    const rest = all.subarray(blockSize);
    pending = rest.length > 0 ? [rest] : [];
    pendingBytes = rest.length;
    return block;
  };

  let started = false;
  const stream = new Transform({
    async transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      try {
        if (!started) {
          started = true;
          this.push(HEADER);
        }
        pending.push(chunk);
        pendingBytes += chunk.length;
        while (pendingBytes > blockSize) {
          submit(takeBlock(), false);
          // Keep `parallel` blocks in flight: wait for the oldest before taking more input.
          while (queue.length >= parallel) this.push(await queue.shift()!);
        }
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
    async flush(cb: TransformCallback) {
      try {
        if (!started) this.push(HEADER);
        submit(pending.length === 1 ? pending[0]! : Buffer.concat(pending), true);
        pending = [];
        while (queue.length > 0) this.push(await queue.shift()!);
        const trailer = Buffer.alloc(8);
        trailer.writeUInt32LE(crc >>> 0, 0);
        trailer.writeUInt32LE(total % 2 ** 32, 4);
        this.push(trailer);
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
  });
  return stream;
}
