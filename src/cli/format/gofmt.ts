/**
 * The parts of Go's fmt and strconv that docker's output depends on: %g/%e/%f float formatting
 * with Go's half-to-even rounding, %v printing of values, Printf verbs and strconv.Quote.
 */

/** A decimal number: value = 0.digits × 10^dp, digits without leading or trailing zeros. */
interface Decimal {
  digits: string;
  dp: number;
}

/** The exact decimal expansion of a finite, non-negative double (every double is a finite decimal). */
function exactDecimal(x: number): Decimal {
  if (x === 0) return { digits: '', dp: 0 };
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const biased = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let exp2: number;
  if (biased === 0) {
    exp2 = -1074;
  } else {
    mantissa |= 1n << 52n;
    exp2 = biased - 1075;
  }
  let digits: string;
  let dp: number;
  if (exp2 >= 0) {
    digits = (mantissa << BigInt(exp2)).toString();
    dp = digits.length;
  } else {
    digits = (mantissa * 5n ** BigInt(-exp2)).toString();
    dp = digits.length + exp2;
  }
  return trim({ digits, dp });
}

function trim(d: Decimal): Decimal {
  const digits = d.digits.replace(/0+$/, '');
  return digits === '' ? { digits: '', dp: 0 } : { digits, dp: d.dp };
}

/** Rounds to `nd` significant digits, ties to even, as Go's strconv does. */
function roundDecimal(d: Decimal, nd: number): Decimal {
  if (nd < 0 || nd >= d.digits.length) return d;
  const next = d.digits.charCodeAt(nd) - 48;
  const restNonZero = /[1-9]/.test(d.digits.slice(nd + 1));
  let up = next > 5 || (next === 5 && restNonZero);
  if (next === 5 && !restNonZero) up = nd > 0 && (d.digits.charCodeAt(nd - 1) - 48) % 2 === 1;
  if (!up) return trim({ digits: d.digits.slice(0, nd), dp: d.dp });
  let i = nd - 1;
  while (i >= 0 && d.digits[i] === '9') i--;
  if (i < 0) return { digits: '1', dp: d.dp + 1 };
  return trim({ digits: d.digits.slice(0, i) + String(Number(d.digits[i]) + 1), dp: d.dp });
}

/** The shortest digits that read back as the same double (JavaScript computes the same ones as Go). */
function shortestDecimal(x: number): Decimal {
  if (x === 0) return { digits: '', dp: 0 };
  const [mant = '', exp = '0'] = x.toExponential().split('e');
  return trim({ digits: mant.replace('.', ''), dp: Number(exp) + 1 });
}

function fmtE(d: Decimal, prec: number, verb: string): string {
  let s = d.digits[0] ?? '0';
  if (prec > 0) s += '.' + d.digits.slice(1, prec + 1).padEnd(prec, '0');
  const exp = d.digits === '' ? 0 : d.dp - 1;
  const sign = exp < 0 ? '-' : '+';
  return `${s}${verb}${sign}${String(Math.abs(exp)).padStart(2, '0')}`;
}

function fmtF(d: Decimal, prec: number): string {
  let s = d.dp > 0 ? d.digits.slice(0, d.dp).padEnd(d.dp, '0') : '0';
  if (prec > 0) {
    s += '.';
    for (let i = 1; i <= prec; i++) {
      const j = d.dp + i - 1;
      s += j >= 0 && j < d.digits.length ? d.digits[j] : '0';
    }
  }
  return s;
}

/** strconv.FormatFloat(x, fmt, prec, 64): fmt is e, E, f, g or G; prec -1 means shortest. */
export function formatFloat(x: number, fmt: 'e' | 'E' | 'f' | 'g' | 'G', prec: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return '+Inf';
  if (x === -Infinity) return '-Inf';
  const neg = x < 0 || Object.is(x, -0);
  const shortest = prec < 0;
  let d: Decimal;
  if (shortest) {
    d = shortestDecimal(Math.abs(x));
    if (fmt === 'e' || fmt === 'E') prec = Math.max(d.digits.length - 1, 0);
    else if (fmt === 'f') prec = Math.max(d.digits.length - d.dp, 0);
    else prec = d.digits.length;
  } else {
    const exact = exactDecimal(Math.abs(x));
    if (fmt === 'e' || fmt === 'E') d = roundDecimal(exact, prec + 1);
    else if (fmt === 'f') d = roundDecimal(exact, exact.dp + prec);
    else {
      if (prec === 0) prec = 1;
      d = roundDecimal(exact, prec);
    }
  }
  let body: string;
  if (fmt === 'e' || fmt === 'E') body = fmtE(d, prec, fmt);
  else if (fmt === 'f') body = fmtF(d, prec);
  else {
    const nd = d.digits.length;
    let eprec = prec;
    if (eprec > nd && nd >= d.dp) eprec = nd;
    if (shortest) eprec = 6;
    const exp = d.dp - 1;
    if (nd !== 0 && (exp < -4 || exp >= eprec)) {
      body = fmtE(d, Math.min(prec, nd) - 1, fmt === 'g' ? 'e' : 'E');
    } else {
      body = fmtF(d, Math.max((prec > d.dp ? nd : prec) - d.dp, 0));
    }
  }
  return neg ? '-' + body : body;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Go's name for the type a value would have after decoding into interface{}. */
export function goTypeName(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  if (typeof v === 'bigint') return 'int64';
  if (typeof v === 'function') return 'func';
  if (Array.isArray(v)) return '[]interface {}';
  if (v instanceof Map || isPlainObject(v)) return 'map[string]interface {}';
  if (v instanceof Date) return 'time.Time';
  return 'struct';
}

function formatNumber(n: number): string {
  if (Number.isInteger(n)) return Math.abs(n) < 1e21 ? String(n === 0 ? 0 : n) : BigInt(n).toString();
  return formatFloat(n, 'g', -1);
}

/** time.Time's String(), in UTC: 2024-05-01 10:20:30.5 +0000 UTC. */
function formatTime(d: Date): string {
  const iso = d.toISOString();
  const frac = iso.slice(20, 23).replace(/0+$/, '');
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac ? '.' + frac : ''} +0000 UTC`;
}

/** The fields of an object as Go would see a map or struct: own enumerable keys and getters. */
export function objectEntries(v: object): [string, unknown][] {
  if (v instanceof Map) return [...v.entries()].map(([k, val]) => [String(k), val]);
  const entries: [string, unknown][] = Object.entries(v);
  if (isPlainObject(v)) return entries;
  const seen = new Set(entries.map(([k]) => k));
  for (let proto = Object.getPrototypeOf(v); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const [name, desc] of Object.entries(Object.getOwnPropertyDescriptors(proto))) {
      if (desc.get && !seen.has(name)) {
        seen.add(name);
        entries.push([name, (v as Record<string, unknown>)[name]]);
      }
    }
  }
  return entries;
}

/** fmt's %v: what Go prints for a value decoded from JSON (maps with sorted keys, [a b] slices). */
export function formatValue(v: unknown): string {
  if (v === undefined || v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return formatNumber(v);
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (typeof v === 'function') return '<func>';
  if (Array.isArray(v)) return '[' + v.map(formatValue).join(' ') + ']';
  if (v instanceof Date) return formatTime(v);
  if (typeof v === 'object') {
    const entries = objectEntries(v);
    if (v instanceof Map || isPlainObject(v)) {
      entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return 'map[' + entries.map(([k, val]) => `${k}:${formatValue(val)}`).join(' ') + ']';
    }
    return '{' + entries.map(([, val]) => formatValue(val)).join(' ') + '}';
  }
  return String(v);
}

const NAMED_ESCAPES: Record<string, string> = {
  '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v', '\\': '\\\\', '"': '\\"',
};

/** strconv.Quote: a double-quoted Go string literal. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const named = NAMED_ESCAPES[ch];
    const code = ch.codePointAt(0) ?? 0;
    if (named) out += named;
    else if (code < 0x20 || code === 0x7f) out += '\\x' + code.toString(16).padStart(2, '0');
    else if (code >= 0x80 && code < 0xa0) out += '\\u' + code.toString(16).padStart(4, '0');
    else if (code === 0xfffd && ch !== '\ufffd') out += '\\ufffd';
    else out += ch;
  }
  return out + '"';
}

/** encoding/json with SetEscapeHTML(false), as docker's `json` template function. */
export function jsonString(v: unknown): string {
  const s = JSON.stringify(v === undefined ? null : v, (_key, value: unknown) =>
    value instanceof Map ? Object.fromEntries(value) : value,
  );
  return (s ?? 'null').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

interface Spec {
  minus: boolean;
  plus: boolean;
  sharp: boolean;
  space: boolean;
  zero: boolean;
  width?: number;
  prec?: number;
}

function runeLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function pad(s: string, spec: Spec, numeric: boolean): string {
  const w = spec.width ?? 0;
  const len = runeLength(s);
  if (len >= w) return s;
  if (spec.minus) return s + ' '.repeat(w - len);
  if (spec.zero && numeric) {
    const sign = /^[+\- ]/.test(s) ? s[0] : '';
    return sign + '0'.repeat(w - len) + s.slice(sign.length);
  }
  return ' '.repeat(w - len) + s;
}

function signed(body: string, negative: boolean, spec: Spec): string {
  if (negative) return '-' + body;
  if (spec.plus) return '+' + body;
  if (spec.space) return ' ' + body;
  return body;
}

function badVerb(verb: string, v: unknown): string {
  if (v === undefined || v === null) return `%!${verb}(<nil>)`;
  return `%!${verb}(${goTypeName(v)}=${formatValue(v)})`;
}

function formatInteger(n: number | bigint, verb: string, spec: Spec): string {
  const big = typeof n === 'bigint' ? n : BigInt(n);
  const negative = big < 0n;
  const abs = negative ? -big : big;
  let body: string;
  switch (verb) {
    case 'd':
    case 'v':
      body = abs.toString(10);
      break;
    case 'x':
      body = (spec.sharp ? '0x' : '') + abs.toString(16);
      break;
    case 'X':
      body = (spec.sharp ? '0X' : '') + abs.toString(16).toUpperCase();
      break;
    case 'o':
      body = (spec.sharp ? '0' : '') + abs.toString(8);
      break;
    case 'O':
      body = '0o' + abs.toString(8);
      break;
    case 'b':
      body = abs.toString(2);
      break;
    default:
      return badVerb(verb, n);
  }
  if (spec.prec !== undefined) body = body.padStart(spec.prec, '0');
  return pad(signed(body, negative, spec), spec, spec.prec === undefined);
}

function formatOne(verb: string, v: unknown, spec: Spec): string {
  if (Array.isArray(v) && verb !== 'v' && verb !== 'T') {
    return pad('[' + v.map((e) => formatOne(verb, e, { ...spec, width: undefined })).join(' ') + ']', spec, false);
  }
  switch (verb) {
    case 'v':
      if (typeof v === 'number' && !Number.isInteger(v)) return pad(signed(formatFloat(Math.abs(v), 'g', spec.prec ?? -1), v < 0, spec), spec, true);
      if (typeof v === 'number' || typeof v === 'bigint') return formatInteger(v, 'd', spec);
      return pad(formatValue(v), spec, false);
    case 'T':
      return pad(goTypeName(v), spec, false);
    case 's':
      if (typeof v !== 'string') return badVerb(verb, v);
      return pad(spec.prec === undefined ? v : [...v].slice(0, spec.prec).join(''), spec, false);
    case 'q':
      if (typeof v === 'string') {
        const q = spec.sharp && !v.includes('`') ? '`' + v + '`' : goQuote(v);
        return pad(q, spec, false);
      }
      if (typeof v === 'number' && Number.isInteger(v)) {
        const ch = String.fromCodePoint(v);
        return pad(ch === "'" ? "'\\''" : "'" + goQuote(ch).slice(1, -1).replace(/\\"/g, '"') + "'", spec, false);
      }
      return badVerb(verb, v);
    case 't':
      return typeof v === 'boolean' ? pad(String(v), spec, false) : badVerb(verb, v);
    case 'c':
      return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? pad(String.fromCodePoint(v), spec, false) : badVerb(verb, v);
    case 'U':
      if (typeof v !== 'number' || !Number.isInteger(v)) return badVerb(verb, v);
      return pad('U+' + v.toString(16).toUpperCase().padStart(4, '0'), spec, false);
    case 'd':
    case 'o':
    case 'O':
    case 'b':
      if (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v))) return formatInteger(v, verb, spec);
      return badVerb(verb, v);
    case 'x':
    case 'X':
      if (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v))) return formatInteger(v, verb, spec);
      if (typeof v === 'string') {
        const hex = Buffer.from(v, 'utf8').toString('hex');
        return pad(verb === 'X' ? hex.toUpperCase() : hex, spec, false);
      }
      return badVerb(verb, v);
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G': {
      if (typeof v !== 'number') return badVerb(verb, v);
      const f = verb === 'F' ? 'f' : (verb as 'e' | 'E' | 'f' | 'g' | 'G');
      const prec = spec.prec ?? (f === 'g' || f === 'G' ? -1 : 6);
      const body = formatFloat(Math.abs(v), f, prec);
      return pad(signed(body, v < 0 || Object.is(v, -0), spec), spec, Number.isFinite(v));
    }
    default:
      return badVerb(verb, v);
  }
}

/** fmt.Sprintf with the common verbs (v s q d x X o b c U e f g t T %), flags, width and precision. */
export function sprintf(format: string, args: unknown[]): string {
  let out = '';
  let argi = 0;
  let i = 0;
  while (i < format.length) {
    const pct = format.indexOf('%', i);
    if (pct === -1) {
      out += format.slice(i);
      break;
    }
    out += format.slice(i, pct);
    i = pct + 1;
    const spec: Spec = { minus: false, plus: false, sharp: false, space: false, zero: false };
    for (; i < format.length; i++) {
      const c = format[i];
      if (c === '-') spec.minus = true;
      else if (c === '+') spec.plus = true;
      else if (c === '#') spec.sharp = true;
      else if (c === ' ') spec.space = true;
      else if (c === '0') spec.zero = true;
      else break;
    }
    const number = (): number | undefined => {
      if (format[i] === '*') {
        i++;
        const a = args[argi++];
        return typeof a === 'number' && Number.isInteger(a) ? a : undefined;
      }
      const m = /^\d+/.exec(format.slice(i));
      if (!m) return undefined;
      i += m[0].length;
      return Number(m[0]);
    };
    spec.width = number();
    if (spec.width !== undefined && spec.width < 0) {
      spec.minus = true;
      spec.width = -spec.width;
    }
    if (format[i] === '.') {
      i++;
      spec.prec = number() ?? 0;
    }
    if (i >= format.length) {
      out += '%!(NOVERB)';
      break;
    }
    const verb = String.fromCodePoint(format.codePointAt(i) ?? 0);
    i += verb.length;
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (argi >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    out += formatOne(verb, args[argi++], spec);
  }
  if (argi < args.length) {
    out += '%!(EXTRA ' + args.slice(argi).map((a) => `${goTypeName(a)}=${formatValue(a)}`).join(', ') + ')';
  }
  return out;
}

/** fmt.Sprint: spaces only between operands when neither is a string. */
export function sprint(args: unknown[]): string {
  let out = '';
  args.forEach((a, i) => {
    if (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string') out += ' ';
    out += formatValue(a);
  });
  return out;
}

/** fmt.Sprintln: spaces between all operands and a newline at the end. */
export function sprintln(args: unknown[]): string {
  return args.map(formatValue).join(' ') + '\n';
}
