import { CtrError } from '../../errors.js';
import {
  formatValue,
  goQuote,
  goTypeName,
  isPlainObject,
  jsonString,
  objectEntries,
  sprint,
  sprintf,
  sprintln,
} from './gofmt.js';

/**
 * docker's --format: Go's text/template language (actions, pipelines, if/else/range/with, variables,
 * trim markers, comments) with Go's builtins and docker's extra functions (json, join, split, upper,
 * lower, title, pad, truncate). Data are plain objects; a missing key prints "<no value>" as in Go.
 */

export type TemplateFunction = (...args: unknown[]) => unknown;

export interface TemplateOptions {
  /** Functions added to, or replacing, the built-in ones. */
  functions?: Record<string, TemplateFunction>;
  /** Turn the two characters \t and \n in literal text into a tab and a newline (docker does). Default true. */
  escapes?: boolean;
}

export interface Template {
  execute(data: unknown): string;
  /** Every field chain read from dot (`.A.B` -> ["A", "B"]), in order of appearance. */
  fields: string[][];
}

type Token =
  | { t: 'field'; v: string; adj: boolean }
  | { t: 'dot'; adj: boolean }
  | { t: 'var'; v: string; adj: boolean }
  | { t: 'ident'; v: string; adj: boolean }
  | { t: 'string'; v: string; adj: boolean }
  | { t: 'number'; v: number; adj: boolean }
  | { t: 'punct'; v: '|' | '(' | ')' | ':=' | '=' | ','; adj: boolean };

type Item = { kind: 'text'; text: string } | { kind: 'action'; tokens: Token[]; source: string };

type Arg =
  | { k: 'dot' }
  | { k: 'nil' }
  | { k: 'const'; value: unknown }
  | { k: 'field'; names: string[] }
  | { k: 'var'; name: string; names: string[] }
  | { k: 'ident'; name: string }
  | { k: 'pipe'; pipe: Pipeline; names: string[] };

interface Command {
  args: Arg[];
}

interface Pipeline {
  decl: string[];
  assign: boolean;
  cmds: Command[];
  source: string;
}

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipe: Pipeline }
  | ControlNode
  | { kind: 'break' | 'continue'; source: string };

interface ControlNode {
  kind: 'if' | 'with' | 'range';
  pipe: Pipeline;
  list: Node[];
  elseList?: Node[];
}

const SPACE = new Set([' ', '\t', '\r', '\n']);
const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'break', 'continue', 'define', 'template', 'block']);

function syntaxError(why: string): CtrError {
  return new CtrError(`invalid --format template: ${why}`);
}

function execError(source: string, why: string): CtrError {
  return new CtrError(`--format template failed at <${source}>: ${why}`);
}

function unquote(body: string): string {
  return body.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)/g, (_m, e: string) => {
    switch (e[0]) {
      case 'a': return '\x07';
      case 'b': return '\b';
      case 'f': return '\f';
      case 'n': return '\n';
      case 'r': return '\r';
      case 't': return '\t';
      case 'v': return '\v';
      case '\\': return '\\';
      case '"': return '"';
      case "'": return "'";
      case 'x':
      case 'u':
      case 'U': return String.fromCodePoint(parseInt(e.slice(1), 16));
      default:
        if (/^[0-7]{3}$/.test(e)) return String.fromCodePoint(parseInt(e, 8));
        throw syntaxError(`unknown escape sequence \\${e}`);
    }
  });
}

function isAlnum(c: string | undefined): boolean {
  return c !== undefined && /[\p{L}\p{N}_]/u.test(c);
}

/** Splits an action's inside into tokens; `adj` records that no space came before (for `.A.B` chains). */
function lexAction(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let adj = false;
  const rest = () => src.slice(i);
  while (i < src.length) {
    const c = src[i] as string;
    if (SPACE.has(c)) {
      i++;
      adj = false;
      continue;
    }
    const push = (tok: Token) => {
      tokens.push(tok);
      adj = true;
    };
    if (c === ':' && src[i + 1] === '=') {
      push({ t: 'punct', v: ':=', adj });
      i += 2;
    } else if (c === '|' || c === '(' || c === ')' || c === '=' || c === ',') {
      push({ t: 'punct', v: c, adj });
      i++;
    } else if (c === '"') {
      const m = /^"((?:[^"\\\n]|\\.)*)"/.exec(rest());
      if (!m) throw syntaxError('unterminated quoted string');
      push({ t: 'string', v: unquote(m[1] ?? ''), adj });
      i += m[0].length;
    } else if (c === '`') {
      const end = src.indexOf('`', i + 1);
      if (end === -1) throw syntaxError('unterminated raw quoted string');
      push({ t: 'string', v: src.slice(i + 1, end).replace(/\r/g, ''), adj });
      i = end + 1;
    } else if (c === "'") {
      const m = /^'((?:[^'\\\n]|\\.[0-9a-fA-F]*)+)'/u.exec(rest());
      const ch = m ? unquote(m[1] ?? '') : '';
      if (!m || [...ch].length !== 1) throw syntaxError('malformed character constant');
      push({ t: 'number', v: ch.codePointAt(0) ?? 0, adj });
      i += m[0].length;
    } else if (c === '$') {
      const m = /^\$[\p{L}\p{N}_]*/u.exec(rest());
      const name = m ? m[0] : '$';
      push({ t: 'var', v: name, adj });
      i += name.length;
    } else if (c === '.' && !/[0-9]/.test(src[i + 1] ?? '')) {
      if (isAlnum(src[i + 1])) {
        const m = /^\.[\p{L}\p{N}_]+/u.exec(rest());
        const name = m ? m[0] : '.';
        push({ t: 'field', v: name.slice(1), adj });
        i += name.length;
      } else {
        push({ t: 'dot', adj });
        i++;
      }
    } else if (/[0-9.+-]/.test(c)) {
      const m = /^[+-]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:[0-9][0-9_]*)?(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)/.exec(rest());
      const text = m ? m[0] : '';
      if (!/[0-9]/.test(text) || isAlnum(src[i + text.length])) {
        throw syntaxError(`bad number syntax: "${rest().split(/[\s|()]/)[0]}"`);
      }
      const clean = text.replace(/_/g, '');
      const sign = clean.startsWith('-') ? -1 : 1;
      const unsigned = clean.replace(/^[+-]/, '');
      const value = /^0[oO]/.test(unsigned) ? parseInt(unsigned.slice(2), 8)
        : /^0[bB]/.test(unsigned) ? parseInt(unsigned.slice(2), 2)
        : Number(unsigned);
      push({ t: 'number', v: sign * value, adj });
      i += text.length;
    } else if (/[\p{L}_]/u.test(c)) {
      const m = /^[\p{L}_][\p{L}\p{N}_]*/u.exec(rest());
      const name = m ? m[0] : c;
      push({ t: 'ident', v: name, adj });
      i += name.length;
    } else {
      throw syntaxError(`unexpected "${c}" in action`);
    }
  }
  return tokens;
}

/** Splits the template into text and actions, applying trim markers and dropping comments. */
function lex(text: string, escapes: boolean): Item[] {
  const items: Item[] = [];
  let i = 0;
  let trimNext = false;
  // Escapes are converted before trimming, so {{- also eats a typed \t, as in docker.
  const pushText = (t: string, trimRight = false) => {
    let s = escapes ? t.replace(/\\t/g, '\t').replace(/\\n/g, '\n') : t;
    if (trimNext) s = s.replace(/^[ \t\r\n]+/, '');
    if (trimRight) s = s.replace(/[ \t\r\n]+$/, '');
    trimNext = false;
    if (s !== '') items.push({ kind: 'text', text: s });
  };
  while (i < text.length) {
    const open = text.indexOf('{{', i);
    if (open === -1) {
      pushText(text.slice(i));
      break;
    }
    let inner = open + 2;
    const leftTrim = text[inner] === '-' && SPACE.has(text[inner + 1] ?? '');
    if (leftTrim) inner += 1;
    pushText(text.slice(i, open), leftTrim);
    let rightTrim = false;
    const afterSpace = text.slice(inner).replace(/^[ \t\r\n]*/, '');
    if (afterSpace.startsWith('/*')) {
      const commentEnd = text.indexOf('*/', inner);
      if (commentEnd === -1) throw syntaxError('unclosed comment');
      const after = text.slice(commentEnd + 2);
      const m = /^([ \t\r\n]-)?}}/.exec(after);
      if (!m) throw syntaxError('comment ends before closing delimiter');
      i = commentEnd + 2 + m[0].length;
      trimNext = m[1] !== undefined;
      continue;
    }
    // Find the closing delimiter outside of quoted strings.
    let j = inner;
    let close = -1;
    while (j < text.length) {
      const c = text[j];
      if (c === '"' || c === "'") {
        j++;
        while (j < text.length && text[j] !== c && text[j] !== '\n') j += text[j] === '\\' ? 2 : 1;
        if (text[j] !== c) throw syntaxError(c === '"' ? 'unterminated quoted string' : 'unterminated character constant');
        j++;
      } else if (c === '`') {
        const e = text.indexOf('`', j + 1);
        if (e === -1) throw syntaxError('unterminated raw quoted string');
        j = e + 1;
      } else if (text.startsWith('}}', j)) {
        close = j;
        break;
      } else {
        j++;
      }
    }
    if (close === -1) throw syntaxError('unclosed action: missing "}}"');
    const end = close + 2;
    if (text[close - 1] === '-' && close - 2 >= inner && SPACE.has(text[close - 2] ?? '')) {
      rightTrim = true;
      close -= 1;
    }
    const source = text.slice(inner, close);
    items.push({ kind: 'action', tokens: lexAction(source), source: source.trim() });
    trimNext = rightTrim;
    i = end;
  }
  return items;
}

class Parser {
  private pos = 0;
  private vars: string[] = ['$'];
  private rangeDepth = 0;
  readonly fields: string[][] = [];

  constructor(
    private readonly items: Item[],
    private readonly functions: Record<string, TemplateFunction>,
  ) {}

  parse(): Node[] {
    const { nodes, stop } = this.list();
    if (stop) throw syntaxError(`unexpected {{${stop.source}}}`);
    return nodes;
  }

  /** Parses nodes until {{else ...}} or {{end}}, which is returned (not consumed into nodes). */
  private list(): { nodes: Node[]; stop?: { keyword: 'else' | 'end'; tokens: Token[]; source: string } } {
    const nodes: Node[] = [];
    while (this.pos < this.items.length) {
      const item = this.items[this.pos++] as Item;
      if (item.kind === 'text') {
        nodes.push({ kind: 'text', text: item.text });
        continue;
      }
      const [first] = item.tokens;
      const keyword = first?.t === 'ident' && KEYWORDS.has(first.v) ? first.v : undefined;
      const rest = item.tokens.slice(1);
      switch (keyword) {
        case 'else':
        case 'end':
          return { nodes, stop: { keyword, tokens: rest, source: item.source } };
        case 'if':
        case 'with':
        case 'range':
          nodes.push(this.control(keyword, rest, item.source));
          break;
        case 'break':
        case 'continue':
          if (this.rangeDepth === 0) throw syntaxError(`{{${keyword}}} outside {{range}}`);
          if (rest.length > 0) throw syntaxError(`unexpected ${describe(rest[0])} in {{${keyword}}}`);
          nodes.push({ kind: keyword, source: item.source });
          break;
        case 'define':
        case 'template':
        case 'block':
          throw syntaxError(`{{${keyword}}} is not supported in --format`);
        default:
          if (item.tokens.length === 0) throw syntaxError('missing value for command');
          nodes.push({ kind: 'action', pipe: this.pipeline(item.tokens, item.source, 'command') });
      }
    }
    return { nodes };
  }

  private control(kind: 'if' | 'with' | 'range', tokens: Token[], source: string): ControlNode {
    const mark = this.vars.length;
    const pipe = this.pipeline(tokens, source, kind);
    if (pipe.cmds.length === 0) throw syntaxError(`missing value for ${kind}`);
    if (kind === 'range') this.rangeDepth++;
    const body = this.list();
    if (kind === 'range') this.rangeDepth--;
    const node: ControlNode = { kind, pipe, list: body.nodes };
    let stop = body.stop;
    if (!stop) throw syntaxError(`unexpected end of template: missing {{end}} for {{${source}}}`);
    if (stop.keyword === 'else') {
      const next = stop.tokens[0];
      if (kind !== 'range' && next?.t === 'ident' && next.v === kind) {
        // {{else if x}} is {{else}}{{if x}}...{{end}}{{end}} sharing one {{end}}.
        node.elseList = [this.control(kind, stop.tokens.slice(1), stop.source.replace(/^else\s+/, ''))];
        this.vars.length = mark;
        return node;
      }
      if (stop.tokens.length > 0) throw syntaxError(`unexpected ${describe(stop.tokens[0])} in {{else}}`);
      const elseBody = this.list();
      node.elseList = elseBody.nodes;
      stop = elseBody.stop;
      if (!stop) throw syntaxError(`unexpected end of template: missing {{end}} for {{${source}}}`);
      if (stop.keyword !== 'end') throw syntaxError('expected {{end}} after {{else}}');
    }
    if (stop.tokens.length > 0) throw syntaxError(`unexpected ${describe(stop.tokens[0])} in {{end}}`);
    this.vars.length = mark;
    return node;
  }

  private pipeline(tokens: Token[], source: string, context: string): Pipeline {
    let pos = 0;
    const decl: string[] = [];
    let assign = false;
    const a = tokens[0];
    const b = tokens[1];
    if (a?.t === 'var' && b?.t === 'punct' && (b.v === ':=' || b.v === '=')) {
      decl.push(a.v);
      assign = b.v === '=';
      pos = 2;
    } else if (a?.t === 'var' && b?.t === 'punct' && b.v === ',') {
      const c = tokens[2];
      const d = tokens[3];
      if (context !== 'range') throw syntaxError(`too many declarations in ${context}`);
      if (c?.t !== 'var' || d?.t !== 'punct' || (d.v !== ':=' && d.v !== '=')) throw syntaxError('expected a variable after ","');
      decl.push(a.v, c.v);
      assign = d.v === '=';
      pos = 4;
    }
    if (assign) {
      for (const v of decl) if (!this.vars.includes(v)) throw syntaxError(`undefined variable "${v}"`);
    }
    const { pipe, next } = this.commands(tokens, pos, source, false);
    if (next !== tokens.length) throw syntaxError(`unexpected ${describe(tokens[next])} in ${context}`);
    if (decl.length > 0 && pipe.cmds.length === 0) throw syntaxError(`missing value for ${context}`);
    if (!assign) this.vars.push(...decl);
    return { ...pipe, decl, assign };
  }

  private commands(tokens: Token[], pos: number, source: string, inParens: boolean): { pipe: Pipeline; next: number } {
    const cmds: Command[] = [];
    for (;;) {
      const args: Arg[] = [];
      while (pos < tokens.length) {
        const tok = tokens[pos] as Token;
        if (tok.t === 'punct' && (tok.v === '|' || tok.v === ')')) break;
        const { arg, next } = this.operand(tokens, pos, source);
        args.push(arg);
        pos = next;
      }
      const tok = tokens[pos];
      if (args.length === 0) {
        if (cmds.length === 0 && (tok === undefined || (tok.t === 'punct' && tok.v === ')'))) break;
        throw syntaxError('missing command in pipeline');
      }
      cmds.push({ args });
      if (tok?.t === 'punct' && tok.v === '|') {
        pos++;
        continue;
      }
      break;
    }
    const end = tokens[pos];
    if (inParens && !(end?.t === 'punct' && end.v === ')')) throw syntaxError('unclosed left paren');
    if (!inParens && end?.t === 'punct' && end.v === ')') throw syntaxError('unexpected right paren');
    cmds.forEach((cmd, i) => {
      const first = cmd.args[0];
      if (i > 0 && first && (first.k === 'const' || first.k === 'dot' || first.k === 'nil')) {
        throw syntaxError(`non executable command in pipeline stage ${i + 1}`);
      }
    });
    return { pipe: { decl: [], assign: false, cmds, source }, next: pos };
  }

  private operand(tokens: Token[], pos: number, source: string): { arg: Arg; next: number } {
    const tok = tokens[pos] as Token;
    let arg: Arg;
    let next = pos + 1;
    switch (tok.t) {
      case 'dot':
        arg = { k: 'dot' };
        break;
      case 'field':
        arg = { k: 'field', names: [tok.v] };
        break;
      case 'var':
        if (!this.vars.includes(tok.v)) throw syntaxError(`undefined variable "${tok.v}"`);
        arg = { k: 'var', name: tok.v, names: [] };
        break;
      case 'string':
      case 'number':
        arg = { k: 'const', value: tok.v };
        break;
      case 'ident':
        if (tok.v === 'true' || tok.v === 'false') arg = { k: 'const', value: tok.v === 'true' };
        else if (tok.v === 'nil') arg = { k: 'nil' };
        else if (KEYWORDS.has(tok.v)) throw syntaxError(`unexpected keyword "${tok.v}" in operand`);
        else if (!(tok.v in this.functions)) throw syntaxError(`function "${tok.v}" not defined`);
        else arg = { k: 'ident', name: tok.v };
        break;
      case 'punct':
        if (tok.v !== '(') throw syntaxError(`unexpected "${tok.v}" in operand`);
        {
          const inner = this.commands(tokens, pos + 1, source, true);
          if (inner.pipe.cmds.length === 0) throw syntaxError('missing value for parenthesized pipeline');
          arg = { k: 'pipe', pipe: inner.pipe, names: [] };
          next = inner.next + 1;
        }
        break;
    }
    const chain: string[] = [];
    while (tokens[next]?.t === 'field' && tokens[next]?.adj) {
      chain.push((tokens[next] as { v: string }).v);
      next++;
    }
    if (chain.length > 0) {
      if (arg.k === 'field' || arg.k === 'var' || arg.k === 'pipe') arg.names.push(...chain);
      else throw syntaxError(`unexpected . after term "${describe(tok)}"`);
    }
    if (arg.k === 'field') this.fields.push(arg.names);
    return { arg, next };
  }
}

function describe(tok: Token | undefined): string {
  if (!tok) return 'end of action';
  switch (tok.t) {
    case 'dot': return '"."';
    case 'field': return `".${tok.v}"`;
    case 'string': return goQuote(tok.v);
    case 'number': return `"${tok.v}"`;
    default: return `"${tok.v}"`;
  }
}

/** Go's truth: false, 0, nil, and empty strings, slices and maps are false. */
export function isTrue(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'bigint') return v !== 0n;
  if (typeof v === 'string' || Array.isArray(v)) return v.length > 0;
  if (v instanceof Map) return v.size > 0;
  if (isPlainObject(v)) return Object.keys(v).length > 0;
  return true;
}

function asString(v: unknown): string {
  if (typeof v !== 'string') throw new Error(`wrong type for value; expected string; got ${goTypeName(v)}`);
  return v;
}

function asInt(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new Error(`wrong type for value; expected int; got ${goTypeName(v)}`);
  return v;
}

function arity(name: string, args: unknown[], min: number, max = min): void {
  if (args.length < min || args.length > max) {
    const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
    throw new Error(`wrong number of args for ${name}: want ${want} got ${args.length}`);
  }
}

function length(v: unknown): number {
  if (typeof v === 'string') return Buffer.byteLength(v, 'utf8');
  if (Array.isArray(v)) return v.length;
  if (v instanceof Map) return v.size;
  if (isPlainObject(v)) return Object.keys(v).length;
  throw new Error(`len of type ${goTypeName(v)}`);
}

function indexOne(item: unknown, key: unknown): unknown {
  if (Array.isArray(item)) {
    const i = asInt(key);
    if (i < 0 || i >= item.length) throw new Error(`index out of range: ${i}`);
    return item[i];
  }
  if (typeof item === 'string') {
    const bytes = Buffer.from(item, 'utf8');
    const i = asInt(key);
    if (i < 0 || i >= bytes.length) throw new Error(`index out of range: ${i}`);
    return bytes[i];
  }
  if (item instanceof Map) return item.has(key) ? item.get(key) : '';
  if (typeof item === 'object' && item !== null) {
    if (typeof key !== 'string') throw new Error(`value has type ${goTypeName(key)}; should be string`);
    // A missing key gives the zero value; docker's maps are mostly map[string]string, so "".
    return Object.hasOwn(item, key) ? (item as Record<string, unknown>)[key] : '';
  }
  if (item === null || item === undefined) throw new Error('index of untyped nil');
  throw new Error(`can't index item of type ${goTypeName(item)}`);
}

function compare(name: string, a: unknown, b: unknown): number {
  const norm = (v: unknown) => (typeof v === 'bigint' ? Number(v) : v);
  const x = norm(a);
  const y = norm(b);
  if (typeof x === 'number' && typeof y === 'number') return x < y ? -1 : x > y ? 1 : 0;
  if (typeof x === 'string' && typeof y === 'string') return x < y ? -1 : x > y ? 1 : 0;
  if (name === 'eq' || name === 'ne') {
    if (typeof x === 'boolean' && typeof y === 'boolean') return x === y ? 0 : 1;
    if ((x === null || x === undefined) && (y === null || y === undefined)) return 0;
    if (x === null || x === undefined || y === null || y === undefined) return 1;
    if (typeof x === 'object' || typeof y === 'object') {
      throw new Error(`non-comparable type ${goTypeName(typeof x === 'object' ? x : y)}`);
    }
    throw new Error('incompatible types for comparison');
  }
  throw new Error(typeof x !== typeof y ? 'incompatible types for comparison' : `invalid type for comparison`);
}

function title(s: string): string {
  return s.replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_m, sep: string, ch: string) => sep + ch.toUpperCase());
}

function jsEscape(s: string): string {
  let out = '';
  for (const ch of s) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '\\') out += '\\\\';
    else if (ch === "'") out += "\\'";
    else if (ch === '"') out += '\\"';
    else if (ch === '<' || ch === '>' || ch === '&' || ch === '=' || code < 0x20) {
      out += '\\u' + code.toString(16).toUpperCase().padStart(4, '0');
    } else out += ch;
  }
  return out;
}

function evalArgsString(args: unknown[]): string {
  return args.length === 1 && typeof args[0] === 'string' ? args[0] : sprint(args);
}

/** Go's builtins plus the functions docker's CLI adds. */
export const defaultFunctions: Record<string, TemplateFunction> = {
  json: (...a) => (arity('json', a, 1), jsonString(a[0])),
  split: (...a) => {
    arity('split', a, 2);
    const s = asString(a[0]);
    const sep = asString(a[1]);
    return sep === '' ? [...s] : s.split(sep);
  },
  join: (...a) => {
    arity('join', a, 2);
    const list = a[0];
    if (!Array.isArray(list) || !list.every((e) => typeof e === 'string')) {
      throw new Error(`wrong type for value; expected []string; got ${goTypeName(list)}`);
    }
    return list.join(asString(a[1]));
  },
  title: (...a) => (arity('title', a, 1), title(asString(a[0]))),
  lower: (...a) => (arity('lower', a, 1), asString(a[0]).toLowerCase()),
  upper: (...a) => (arity('upper', a, 1), asString(a[0]).toUpperCase()),
  pad: (...a) => {
    arity('pad', a, 3);
    const s = asString(a[0]);
    const before = asInt(a[1]);
    const after = asInt(a[2]);
    if (before < 0 || after < 0) throw new Error('negative Repeat count');
    return s === '' ? s : ' '.repeat(before) + s + ' '.repeat(after);
  },
  truncate: (...a) => {
    arity('truncate', a, 2);
    const chars = [...asString(a[0])];
    const n = asInt(a[1]);
    if (chars.length < n) return chars.join('');
    if (n < 0) throw new Error(`slice bounds out of range [:${n}]`);
    return chars.slice(0, n).join('');
  },
  len: (...a) => (arity('len', a, 1), length(a[0])),
  index: (...a) => {
    arity('index', a, 1, Infinity);
    let item = a[0];
    for (const key of a.slice(1)) item = indexOne(item, key);
    return item;
  },
  slice: (...a) => {
    arity('slice', a, 1, 4);
    const item = a[0];
    if (!Array.isArray(item) && typeof item !== 'string') throw new Error(`can't slice item of type ${goTypeName(item)}`);
    if (typeof item === 'string' && a.length > 3) throw new Error('cannot 3-index slice a string');
    const idx = a.slice(1).map((x) => asInt(x));
    const lo = idx[0] ?? 0;
    const hi = idx[1] ?? item.length;
    if (lo < 0 || hi < lo || hi > item.length) throw new Error(`index out of range: ${lo}:${hi}`);
    return item.slice(lo, hi);
  },
  not: (...a) => (arity('not', a, 1), !isTrue(a[0])),
  print: (...a) => sprint(a),
  println: (...a) => sprintln(a),
  printf: (...a) => {
    arity('printf', a, 1, Infinity);
    return sprintf(asString(a[0]), a.slice(1));
  },
  html: (...a) =>
    evalArgsString(a)
      .replace(/\0/g, '\ufffd')
      .replace(/&/g, '&amp;')
      .replace(/'/g, '&#39;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&#34;'),
  js: (...a) => jsEscape(evalArgsString(a)),
  urlquery: (...a) => encodeURIComponent(evalArgsString(a)).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase()).replace(/%20/g, '+'),
  call: (...a) => {
    arity('call', a, 1, Infinity);
    const fn = a[0];
    if (typeof fn !== 'function') throw new Error(`non-function of type ${goTypeName(fn)}`);
    return (fn as TemplateFunction)(...a.slice(1));
  },
  eq: (...a) => {
    arity('eq', a, 2, Infinity);
    return a.slice(1).some((b) => compare('eq', a[0], b) === 0);
  },
  ne: (...a) => (arity('ne', a, 2), compare('ne', a[0], a[1]) !== 0),
  lt: (...a) => (arity('lt', a, 2), compare('lt', a[0], a[1]) < 0),
  le: (...a) => (arity('le', a, 2), compare('le', a[0], a[1]) <= 0),
  gt: (...a) => (arity('gt', a, 2), compare('gt', a[0], a[1]) > 0),
  ge: (...a) => (arity('ge', a, 2), compare('ge', a[0], a[1]) >= 0),
  // and/or are evaluated lazily by the executor; these entries only declare them.
  and: (...a) => a.find((v) => !isTrue(v)) ?? a[a.length - 1],
  or: (...a) => a.find((v) => isTrue(v)) ?? a[a.length - 1],
};

const MISSING = Symbol('missing');
type Value = unknown;

class Signal {
  constructor(readonly kind: 'break' | 'continue') {}
}

class Executor {
  private vars: { name: string; value: Value }[] = [];
  private out = '';

  constructor(private readonly functions: Record<string, TemplateFunction>) {}

  run(nodes: Node[], data: unknown): string {
    this.vars = [{ name: '$', value: data }];
    this.out = '';
    this.walk(nodes, data);
    return this.out;
  }

  private walk(nodes: Node[], dot: Value): void {
    for (const node of nodes) {
      switch (node.kind) {
        case 'text':
          this.out += node.text;
          break;
        case 'action': {
          const v = this.pipeline(node.pipe, dot);
          if (node.pipe.decl.length === 0) this.out += v === undefined ? '<no value>' : formatValue(v);
          break;
        }
        case 'if':
        case 'with': {
          const mark = this.vars.length;
          const v = this.pipeline(node.pipe, dot);
          try {
            if (isTrue(v)) this.walk(node.list, node.kind === 'with' ? v : dot);
            else if (node.elseList) this.walk(node.elseList, dot);
          } finally {
            this.vars.length = mark;
          }
          break;
        }
        case 'range':
          this.range(node, dot);
          break;
        case 'break':
        case 'continue':
          throw new Signal(node.kind);
      }
    }
  }

  private range(node: ControlNode, dot: Value): void {
    const mark = this.vars.length;
    const value = this.pipeline(node.pipe, dot);
    const entries: [unknown, unknown][] = [];
    if (Array.isArray(value)) value.forEach((v, i) => entries.push([i, v]));
    else if (typeof value === 'number' && Number.isInteger(value)) for (let i = 0; i < value; i++) entries.push([i, i]);
    else if (value instanceof Map || isPlainObject(value)) {
      const all = objectEntries(value);
      all.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      entries.push(...all);
    } else if (value !== undefined && value !== null) {
      throw execError(node.pipe.source, `range can't iterate over ${formatValue(value)}`);
    }
    const { decl } = node.pipe;
    try {
      if (entries.length === 0) {
        if (node.elseList) this.walk(node.elseList, dot);
        return;
      }
      for (const [key, elem] of entries) {
        // The declared variables hold the element (one variable) or the key and element (two).
        if (decl.length === 1) this.setVar(decl[0] as string, elem, node.pipe.assign, mark);
        if (decl.length === 2) {
          this.setVar(decl[0] as string, key, node.pipe.assign, mark);
          this.setVar(decl[1] as string, elem, node.pipe.assign, mark + 1);
        }
        const iterMark = this.vars.length;
        try {
          this.walk(node.list, elem);
        } catch (e) {
          if (!(e instanceof Signal)) throw e;
          if (e.kind === 'break') break;
        } finally {
          this.vars.length = iterMark;
        }
      }
    } finally {
      this.vars.length = mark;
    }
  }

  /** Declared range variables live at fixed slots above the mark; assigned ones update outer variables. */
  private setVar(name: string, value: Value, assign: boolean, slot: number): void {
    if (assign) {
      this.assignVar(name, value);
      return;
    }
    this.vars[slot] = { name, value };
  }

  private assignVar(name: string, value: Value): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      const v = this.vars[i] as { name: string; value: Value };
      if (v.name === name) {
        v.value = value;
        return;
      }
    }
    throw new Error(`undefined variable: ${name}`);
  }

  private pipeline(pipe: Pipeline, dot: Value): Value {
    let value: Value | typeof MISSING = MISSING;
    for (const cmd of pipe.cmds) value = this.command(cmd, dot, value, pipe.source);
    const result = value === MISSING ? undefined : value;
    for (const name of pipe.decl) {
      if (pipe.assign) this.assignVar(name, result);
      else this.vars.push({ name, value: result });
    }
    return result;
  }

  private command(cmd: Command, dot: Value, final: Value | typeof MISSING, source: string): Value {
    const [first, ...rest] = cmd.args as [Arg, ...Arg[]];
    const noArgs = () => {
      if (rest.length > 0 || final !== MISSING) throw execError(source, `can't give argument to non-function ${describeArg(first)}`);
    };
    switch (first.k) {
      case 'ident':
        return this.call(first.name, rest, dot, final, source);
      case 'field':
        return this.chain(dot, first.names, rest, final, dot, source, '');
      case 'var': {
        const v = this.varValue(first.name);
        if (first.names.length === 0) {
          noArgs();
          return v;
        }
        return this.chain(v, first.names, rest, final, dot, source, first.name);
      }
      case 'pipe': {
        if (first.names.length === 0) {
          noArgs();
          return this.pipeline(first.pipe, dot);
        }
        return this.chain(this.pipeline(first.pipe, dot), first.names, rest, final, dot, source, '(...)');
      }
      case 'dot':
        noArgs();
        return dot;
      case 'nil':
        throw execError(source, 'nil is not a command');
      case 'const':
        noArgs();
        return first.value;
    }
  }

  private varValue(name: string): Value {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      const v = this.vars[i] as { name: string; value: Value };
      if (v.name === name) return v.value;
    }
    throw new Error(`undefined variable: ${name}`);
  }

  private arg(a: Arg, dot: Value, source: string): Value {
    switch (a.k) {
      case 'dot':
        return dot;
      case 'nil':
        return null;
      case 'const':
        return a.value;
      case 'field':
        return this.chain(dot, a.names, [], MISSING, dot, source, '');
      case 'var': {
        const v = this.varValue(a.name);
        return a.names.length === 0 ? v : this.chain(v, a.names, [], MISSING, dot, source, a.name);
      }
      case 'pipe': {
        const v = this.pipeline(a.pipe, dot);
        return a.names.length === 0 ? v : this.chain(v, a.names, [], MISSING, dot, source, '(...)');
      }
      case 'ident':
        return this.call(a.name, [], dot, MISSING, source);
    }
  }

  /** Walks `.A.B.C` from a receiver; only the last step may take arguments (a method call). */
  private chain(
    receiver: Value,
    names: string[],
    argNodes: Arg[],
    final: Value | typeof MISSING,
    dot: Value,
    source: string,
    prefix: string,
  ): Value {
    let value = receiver;
    let path = prefix;
    names.forEach((name, i) => {
      const last = i === names.length - 1;
      const hasArgs = last && (argNodes.length > 0 || final !== MISSING);
      path += '.' + name;
      if (value === undefined) {
        if (hasArgs) throw execError(source, `${path} has arguments but cannot be invoked as function`);
        return;
      }
      if (value === null) throw execError(source, `nil pointer evaluating ${path}`);
      if (typeof value !== 'object' && typeof value !== 'function') {
        throw execError(source, `can't evaluate field ${name} in type ${goTypeName(value)}`);
      }
      if (Array.isArray(value)) throw execError(source, `can't evaluate field ${name} in type ${goTypeName(value)}`);
      const obj = value as Record<string, unknown>;
      let found: unknown;
      let exists: boolean;
      if (value instanceof Map) {
        exists = value.has(name);
        found = value.get(name);
      } else if (isPlainObject(value)) {
        exists = Object.hasOwn(obj, name);
        found = exists ? obj[name] : undefined;
      } else {
        exists = name in obj && !Object.hasOwn(Object.prototype, name);
        found = exists ? obj[name] : undefined;
        if (!exists) throw execError(source, `can't evaluate field ${name} in type ${value.constructor?.name ?? 'object'}`);
      }
      if (typeof found === 'function') {
        const args = argNodes.map((a) => this.arg(a, dot, source));
        if (last && final !== MISSING) args.push(final);
        try {
          value = (found as TemplateFunction).apply(obj, last ? args : []);
        } catch (e) {
          if (e instanceof CtrError) throw e;
          throw execError(source, `error calling ${name}: ${e instanceof Error ? e.message : String(e)}`);
        }
        return;
      }
      if (hasArgs) throw execError(source, `${name} is not a method but has arguments`);
      value = exists ? found : undefined;
    });
    return value;
  }

  private call(name: string, argNodes: Arg[], dot: Value, final: Value | typeof MISSING, source: string): Value {
    const fn = this.functions[name];
    if (!fn) throw execError(source, `function "${name}" not defined`);
    const toArg = (v: Value) => (v === undefined ? null : v);
    if ((name === 'and' || name === 'or') && fn === defaultFunctions[name]) {
      const all = argNodes.length + (final === MISSING ? 0 : 1);
      if (all < 1) throw execError(source, `wrong number of args for ${name}: want at least 1 got 0`);
      let v: Value = null;
      for (let i = 0; i < all; i++) {
        v = toArg(i < argNodes.length ? this.arg(argNodes[i] as Arg, dot, source) : final);
        if (name === 'and' ? !isTrue(v) : isTrue(v)) return v;
      }
      return v;
    }
    const args = argNodes.map((a) => toArg(this.arg(a, dot, source)));
    if (final !== MISSING) args.push(toArg(final));
    try {
      return fn(...args);
    } catch (e) {
      if (e instanceof CtrError) throw e;
      throw execError(source, `error calling ${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

function describeArg(a: Arg): string {
  switch (a.k) {
    case 'dot': return '.';
    case 'nil': return 'nil';
    case 'const': return typeof a.value === 'string' ? goQuote(a.value) : String(a.value);
    case 'field': return '.' + a.names.join('.');
    case 'var': return a.name + a.names.map((n) => '.' + n).join('');
    case 'ident': return a.name;
    case 'pipe': return '(...)' + a.names.map((n) => '.' + n).join('');
  }
}

/** Parses a template once; `execute` may then run it on many rows. */
export function parseTemplate(text: string, options: TemplateOptions = {}): Template {
  const functions = { ...defaultFunctions, ...options.functions };
  const parser = new Parser(lex(text, options.escapes ?? true), functions);
  const nodes = parser.parse();
  return {
    execute: (data: unknown) => new Executor(functions).run(nodes, data),
    fields: parser.fields,
  };
}

/** Compiles docker's --format template; throws CtrError on syntax errors (at compile) and on failures (at run). */
export function compileTemplate(text: string, options: TemplateOptions = {}): (data: unknown) => string {
  return parseTemplate(text, options).execute;
}
