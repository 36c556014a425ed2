import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { CtrError, errnoCode } from '../errors.js';
import { parseDigest } from '../image/digest.js';
import { writeFileAtomic } from './atomic.js';

/**
 * Content-addressed store for the small blobs: manifests, indexes and configs. Layers are
 * not kept here (they are stored unpacked, once). A blob gets its name only once verified.
 */
export class BlobStore {
  constructor(private readonly dir: string) {
    mkdirSync(join(dir, 'sha256'), { recursive: true });
  }

  private path(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.dir, algorithm, hex);
  }

  has(digest: string): boolean {
    return existsSync(this.path(digest));
  }

  get(digest: string): Buffer {
    try {
      return readFileSync(this.path(digest));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw new CtrError(`blob ${digest} is missing from the store; pull the image again`);
      throw err;
    }
  }

  getJson<T>(digest: string): T {
    return JSON.parse(this.get(digest).toString('utf8')) as T;
  }

  /** Stores data under its digest; when `expected` is given, refuses content that does not match it. */
  put(data: Buffer, expected?: string): string {
    const { algorithm } = expected ? parseDigest(expected) : { algorithm: 'sha256' as const };
    const digest = `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
    if (expected && digest !== expected) {
      throw new CtrError(`content for ${expected} has digest ${digest}: the registry or file sent something else; try again`);
    }
    if (!this.has(digest)) writeFileAtomic(this.path(digest), data, 0o644);
    return digest;
  }

  list(): string[] {
    return readdirSync(join(this.dir, 'sha256'))
      .filter((n) => /^[a-f0-9]{64}$/.test(n))
      .map((n) => `sha256:${n}`);
  }

  remove(digest: string): void {
    try {
      unlinkSync(this.path(digest));
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
  }
}
