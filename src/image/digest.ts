import { createHash } from 'node:crypto';
import { CtrError } from '../errors.js';

const DIGEST_RE = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}

/** Validates a digest string from the outside world before it is used as a name anywhere. */
export function parseDigest(s: string, what = 'digest'): { algorithm: 'sha256' | 'sha512'; hex: string } {
  if (!DIGEST_RE.test(s)) throw new CtrError(`invalid ${what} "${s}": expected sha256: followed by 64 hex digits`);
  const [algorithm, hex] = s.split(':') as ['sha256' | 'sha512', string];
  return { algorithm, hex };
}

export function sha256Digest(data: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

/** The short id docker shows: the first 12 hex digits. */
export function shortId(digest: string): string {
  const hex = digest.includes(':') ? digest.slice(digest.indexOf(':') + 1) : digest;
  return hex.slice(0, 12);
}

/** OCI chain id: chain(n) = sha256(chain(n-1) + " " + diff_id(n)). */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : sha256Digest(`${prev} ${d}`));
  }
  return out;
}
