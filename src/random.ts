import { closeSync, openSync, readSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

/**
 * Random bytes read from the kernel: IDs and temporary names are all most commands need of
 * randomness, and loading node:crypto for them costs 3-9 ms of every command that writes state.
 */
export function randomBuffer(n: number): Buffer {
  const buf = Buffer.allocUnsafe(n);
  let fd: number;
  try {
    fd = openSync('/dev/urandom', 'r');
  } catch {
    // a sandbox without /dev/urandom
    return randomBytes(n);
  }
  try {
    for (let off = 0; off < n; ) off += readSync(fd, buf, off, n - off, null);
  } finally {
    closeSync(fd);
  }
  return buf;
}

/** `bytes` random bytes as hex. */
export function randomHex(bytes: number): string {
  return randomBuffer(bytes).toString('hex');
}

/** A uniform random integer in [0, max), max at most 2^32. */
export function randomBelow(max: number): number {
  const limit = Math.floor(0x1_0000_0000 / max) * max;
  for (;;) {
    const v = randomBuffer(4).readUInt32LE(0);
    if (v < limit) return v % max;
  }
}
