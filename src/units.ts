/** Parsers of the sizes and durations users type, shared by every layer (docker's forms). */
import { CtrError } from './errors.js';

const BINARY_MULTIPLIERS: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };
const FLOAT_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Bytes from a size such as "512m", "1.5g", "64 KiB" or "100" (docker's RAMInBytes: binary units
 * b, k, m, g, t, p, case-insensitive, optional trailing "b" or "ib").
 */
export function parseSize(s: string): number {
  const fail = (why: string) => new CtrError(`invalid size "${s}": ${why}; use a number with an optional unit b, k, m, g, t or p, e.g. 512m`);
  let num: string;
  let suffix: string;
  const space = s.indexOf(' ');
  if (space !== -1) {
    num = s.slice(0, space);
    suffix = s.slice(space + 1);
  } else {
    const m = /[0-9.][^0-9.]*$/.exec(s);
    if (!m) throw fail('no number');
    num = s.slice(0, m.index + 1);
    suffix = s.slice(m.index + 1);
  }
  if (!FLOAT_RE.test(num)) throw fail(`"${num}" is not a number`);
  let size = Number(num);
  if (size < 0) throw fail('negative size');
  if (suffix.length > 0) {
    const sfx = suffix.toLowerCase();
    const multiplier = BINARY_MULTIPLIERS[sfx[0] ?? ''];
    if (sfx.length > 3) throw fail(`unknown unit "${suffix}"`);
    if (sfx[0] === 'b') {
      if (sfx.length > 1) throw fail(`unknown unit "${suffix}"`);
    } else if (multiplier === undefined) {
      throw fail(`unknown unit "${suffix}"`);
    } else if ((sfx.length === 2 && sfx[1] !== 'b') || (sfx.length === 3 && sfx.slice(1) !== 'ib')) {
      throw fail(`unknown unit "${suffix}"`);
    } else {
      size *= multiplier;
    }
  }
  const bytes = Math.trunc(size);
  return bytes === 0 ? 0 : bytes;
}

const DURATION_UNITS_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Milliseconds from a Go duration such as "10s", "1h30m", "1.5h" or "-5m" (time.ParseDuration). */
export function parseDuration(s: string): number {
  const fail = (why: string) => new CtrError(`invalid duration "${s}": ${why}; use a number with a unit, e.g. 10s, 5m or 1h30m`);
  let rest = s;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw fail('empty duration');
  let total = 0;
  while (rest !== '') {
    const m = /^(\d*)(\.\d*)?([^\d.]*)/.exec(rest);
    const [whole = '', frac = '', unit = ''] = m ? [m[1], m[2], m[3]] : [];
    if (!m || (whole === '' && frac.length <= 1)) throw fail('expected a number');
    if (unit === '') throw fail('missing unit');
    const factor = DURATION_UNITS_MS[unit];
    if (factor === undefined) throw fail(`unknown unit "${unit}"`);
    total += Number(`${whole || '0'}${frac === '.' ? '' : frac}`) * factor;
    rest = rest.slice(m[0].length);
  }
  return sign * total;
}
