import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decompressTo, type Compression } from '../../src/archive/decompress.js';

/** Bytes that compress, but not to nothing: a pattern with a counter in it. */
function sample(size: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = (Math.imul(i >> 6, 2654435761 + seed) >>> 24) ^ (i & 0x0f);
  return out;
}

/** input given in pieces of `piece` bytes, as a network would. */
function pieces(data: Buffer, piece: number): Readable {
  const parts: Buffer[] = [];
  for (let off = 0; off < data.length; off += piece) parts.push(data.subarray(off, off + piece));
  return Readable.from(parts, { objectMode: false });
}

/** What decompressTo passed on, copied (its chunks are reused), and the digest it gave. */
async function run(input: Readable, compression: Compression, hash = true): Promise<{ out: Buffer; digest: Buffer | undefined; chunks: number }> {
  const got: Buffer[] = [];
  const digest = await decompressTo(input, compression, { hash }, (chunk) => {
    got.push(Buffer.from(chunk));
  });
  return { out: Buffer.concat(got), digest, chunks: got.length };
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest();

describe('decompressTo', () => {
  it('gives gzip, zstd and plain data back whole, in order, with the sha256 of the output', async () => {
    // 20 MiB: more than the 8 reused buffers hold and more than the 8 MiB of input at which it pauses
    const data = sample(20 << 20);
    for (const [compression, blob] of [
      ['gzip', gzipSync(data)],
      ['zstd', zstdCompressSync(data)],
      ['none', data],
    ] as const) {
      const { out, digest, chunks } = await run(pieces(blob, 65536), compression);
      expect(out.equals(data), compression).toBe(true);
      expect(digest?.equals(sha256(data)), compression).toBe(true);
      expect(chunks, compression).toBeGreaterThanOrEqual(20);
    }
  });

  it('reads several gzip members and zstd frames one after the other, and zero padding after gzip', async () => {
    const a = sample(3 << 20, 1);
    const b = sample(1 << 20, 2);
    const both = Buffer.concat([a, b]);
    expect((await run(pieces(Buffer.concat([gzipSync(a), gzipSync(b)]), 1000), 'gzip')).out.equals(both)).toBe(true);
    expect((await run(pieces(Buffer.concat([zstdCompressSync(a), zstdCompressSync(b)]), 1000), 'zstd')).out.equals(both)).toBe(true);
    expect((await run(pieces(Buffer.concat([gzipSync(a), Buffer.alloc(4096)]), 4096), 'gzip')).out.equals(a)).toBe(true);
  });

  it('hashes nothing when not asked', async () => {
    const { out, digest } = await run(pieces(gzipSync(Buffer.from('hello')), 3), 'gzip', false);
    expect(out.toString()).toBe('hello');
    expect(digest).toBeUndefined();
  });

  it('fails on truncated or corrupt data with the codes of Node’s zlib', async () => {
    const data = sample(2 << 20);
    const gz = gzipSync(data);
    const zs = zstdCompressSync(data);
    await expect(run(pieces(gz.subarray(0, gz.length - 100), 65536), 'gzip')).rejects.toMatchObject({ code: 'Z_BUF_ERROR', message: 'unexpected end of file' });
    await expect(run(pieces(zs.subarray(0, zs.length - 100), 65536), 'zstd')).rejects.toMatchObject({ code: expect.stringMatching(/^ZSTD_/) });
    const bad = Buffer.from(gz);
    bad.fill(0x55, 1000, 2000);
    await expect(run(pieces(bad, 65536), 'gzip')).rejects.toMatchObject({ code: 'Z_DATA_ERROR' });
    const badTrailer = Buffer.from(gz);
    badTrailer[badTrailer.length - 6]! ^= 0xff; // the CRC-32
    await expect(run(pieces(badTrailer, 65536), 'gzip')).rejects.toMatchObject({ code: 'Z_DATA_ERROR', message: 'incorrect data check' });
    // a second "member" that is not gzip
    await expect(run(pieces(Buffer.concat([gzipSync(data), Buffer.from('garbage')]), 65536), 'gzip')).rejects.toMatchObject({ code: 'Z_DATA_ERROR' });
  });

  it("stops on the consumer's failure and on the input's, destroying the input", async () => {
    const input = pieces(gzipSync(sample(5 << 20)), 65536);
    let calls = 0;
    await expect(
      decompressTo(input, 'gzip', { hash: true }, () => {
        if (++calls === 2) throw new Error('the disk is full');
      }),
    ).rejects.toThrow('the disk is full');
    expect(calls).toBe(2);
    expect(input.destroyed).toBe(true);

    const failing = new Readable({
      read() {
        this.destroy(new Error('the connection dropped'));
      },
    });
    await expect(run(failing, 'gzip')).rejects.toThrow('the connection dropped');
  });
});
