import type { Readable } from 'node:stream';
import { native, type NativeDecompressor } from '../native/index.js';

export type Compression = 'gzip' | 'zstd' | 'none';

const KIND: Record<Compression, number> = { none: 0, gzip: 1, zstd: 2 };
const CHUNK = 0;
const END = 1;

/** The buffers the thread fills in turn: a chunk is 1 MiB, as many as the parser may fall behind. */
const SLOT_SIZE = 1 << 20;
const SLOTS = 8;
/**
 * Compressed input waiting for the thread, in bytes, above which the input is paused, and below
 * which a chunk's report resumes it. Compressed data never decompresses to less than about its
 * own size, so a paused input always sees such reports: the thread cannot run dry unseen.
 */
const HIGH_WATER = 8 << 20;
const LOW_WATER = 2 << 20;

/** Buffers of finished runs, for the next layer of the same process (each new one counts for V8's GC). */
const spare: Buffer[] = [];

/**
 * Decompresses input on a thread of the addon into a few reused buffers and passes each filled
 * one to onChunk, on this thread, in order. onChunk must not keep the chunk (nor views of it)
 * after it returns: the buffer is filled again. With hash, resolves with the sha256 of all the
 * output, else with undefined; rejects with the first failure, of the data (an error whose code
 * starts with Z_ or ZSTD_, as Node's zlib names them), of onChunk, or of input (then destroyed).
 * Unlike Node's zlib streams, no new buffer is made per chunk (V8 counts each one toward its
 * garbage-collection limits) and the hashing happens off this thread.
 */
export function decompressTo(input: Readable, compression: Compression, opts: { hash: boolean }, onChunk: (chunk: Buffer) => void): Promise<Buffer | undefined> {
  const addon = native();
  const slots = Array.from({ length: SLOTS }, () => spare.pop() ?? Buffer.allocUnsafeSlow(SLOT_SIZE));
  return new Promise((resolve, reject) => {
    let handle: NativeDecompressor | undefined;
    let paused = false;
    const settle = (err: unknown, digest?: Buffer) => {
      if (!handle) return;
      // The thread is gone after this: its buffers are free for the next run.
      addon.decompressClose(handle);
      handle = undefined;
      spare.push(...slots);
      input.off('data', onData);
      input.off('end', onEnd);
      input.off('error', onError);
      input.off('close', onClose);
      if (err === undefined) {
        resolve(digest);
        return;
      }
      input.destroy();
      reject(err);
    };
    const onEvent = (type: number, slot: number, length: number, queued: number, extra: Buffer | Error | null) => {
      if (!handle) return;
      if (type === CHUNK) {
        try {
          onChunk(slots[slot]!.subarray(0, length));
        } catch (err) {
          settle(err);
          return;
        }
        addon.decompressRelease(handle, slot);
        if (paused && queued < LOW_WATER) {
          paused = false;
          input.resume();
        }
      } else if (type === END) {
        settle(undefined, extra instanceof Buffer ? extra : undefined);
      } else {
        settle(extra);
      }
    };
    const onData = (chunk: Buffer) => {
      if (!handle) return;
      if (addon.decompressPush(handle, chunk) > HIGH_WATER && !paused) {
        paused = true;
        input.pause();
      }
    };
    const onEnd = () => {
      if (handle) addon.decompressEnd(handle);
    };
    const onError = (err: Error) => settle(err);
    const onClose = () => {
      if (!input.readableEnded) settle(Object.assign(new Error('the layer stream was closed before its end'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    };
    try {
      handle = addon.decompressOpen(KIND[compression], opts.hash, slots, onEvent);
    } catch (err) {
      spare.push(...slots);
      reject(err);
      return;
    }
    input.on('data', onData);
    input.on('end', onEnd);
    input.on('error', onError);
    input.on('close', onClose);
  });
}
