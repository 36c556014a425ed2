import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createParallelGzip } from '../../src/archive/parallel-gzip.js';

async function compress(data: Buffer, opts: { level: number; blockSize?: number; parallel?: number }, chunk = 7777): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunk) pieces.push(data.subarray(i, i + chunk));
  return buffer(Readable.from(pieces).pipe(createParallelGzip(opts)));
}

// Text that repeats across block boundaries (the dictionary matters) and random bytes.
const text = Buffer.from(Array.from({ length: 20000 }, (_, i) => `line ${i % 500} of a file that repeats\n`).join(''));
const data = Buffer.concat([text, randomBytes(300_000), text]);

describe('parallel gzip', () => {
  it('writes one gzip member that gunzip and GNU gzip read back exactly', async () => {
    for (const blockSize of [4096, 65536, 1 << 20]) {
      const gz = await compress(data, { level: 4, blockSize });
      expect(gunzipSync(gz).equals(data)).toBe(true);
      expect(execFileSync('gzip', ['-dc'], { input: gz, maxBuffer: 64 << 20 }).equals(data)).toBe(true);
    }
    expect(gunzipSync(await compress(Buffer.alloc(0), { level: 6 })).length).toBe(0);
  });

  it('gives the same bytes whatever the parallelism and however the input is cut', async () => {
    const one = await compress(data, { level: 6, blockSize: 65536, parallel: 1 });
    expect((await compress(data, { level: 6, blockSize: 65536, parallel: 4 }, 100_003)).equals(one)).toBe(true);
  });

  it('compresses as well as a single stream when blocks share their window', async () => {
    const gz = await compress(text, { level: 6, blockSize: 65536 });
    const single = execFileSync('gzip', ['-6', '-c'], { input: text });
    expect(gz.length).toBeLessThan(single.length * 1.05);
  });
});
