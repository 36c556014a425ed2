import { CtrError } from '../../errors.js';
import { formatFloat } from './gofmt.js';

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
const BINARY_MULTIPLIERS: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/**
 * A size as docker prints it (go-units HumanSizeWithPrecision): decimal units, Go's %.<precision>g,
 * so 4260000 -> "4.26MB", 1000 -> "1kB" and, faithfully, 999999 -> "1e+03kB". Docker's image and
 * container lists use precision 3; go-units' HumanSize uses 4.
 */
export function humanSize(bytes: number, precision = 3): string {
  let size = bytes;
  let i = 0;
  while (size >= 1000 && i < DECIMAL_UNITS.length - 1) {
    size /= 1000;
    i++;
  }
  return formatFloat(size, 'g', precision) + DECIMAL_UNITS[i];
}

/** go-units HumanDuration: "Less than a second", "About a minute", "3 hours", "2 weeks"... */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(ms / 3_600_000) / 24 / 365)} years`;
}

/** "5 minutes ago", as docker's CREATED and STATUS columns say it. */
export function timeAgo(date: Date | number, now: Date | number = Date.now()): string {
  return `${humanDuration(Number(now) - Number(date))} ago`;
}

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
