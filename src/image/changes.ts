import { CtrError } from '../errors.js';
import type { ContainerConfig } from './types.js';

/** The Dockerfile instructions `commit --change` and `import --change` take, as docker does. */
export const CHANGE_INSTRUCTIONS = ['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'USER', 'VOLUME', 'WORKDIR', 'STOPSIGNAL'] as const;
export type ChangeInstruction = (typeof CHANGE_INSTRUCTIONS)[number];

/** One parsed `--change`: a command line is exec form (array) or shell form (string). */
export type ConfigChange =
  | { op: 'CMD' | 'ENTRYPOINT'; exec: string[] | undefined; shell: string | undefined }
  | { op: 'ENV' | 'LABEL'; pairs: [string, string][] }
  | { op: 'EXPOSE'; ports: string[] }
  | { op: 'USER' | 'WORKDIR' | 'STOPSIGNAL'; value: string }
  | { op: 'VOLUME'; paths: string[] };

function invalid(text: string, why: string): CtrError {
  return new CtrError(`invalid --change "${text}": ${why}`);
}

/** A JSON array of strings (exec form), or undefined when the text is not one. */
function jsonArray(text: string): string[] | undefined {
  if (!text.startsWith('[')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
  } catch {
    // not JSON: shell form, as docker reads it
  }
  return undefined;
}

/**
 * Splits words as a Dockerfile does for ENV and LABEL: blanks separate words, quotes group,
 * a backslash escapes the next character (inside single quotes nothing is special).
 */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      else word += ch;
      continue;
    }
    if (ch === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
      continue;
    }
    if (quote === '"') {
      if (ch === '"') quote = undefined;
      else word += ch;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unmatched ${quote}`);
  if (inWord) words.push(word);
  return words;
}

/** KEY=VALUE pairs, or the legacy `KEY VALUE` form (one pair, the rest of the line). */
function keyValues(text: string, args: string, what: string): [string, string][] {
  let words: string[];
  try {
    words = splitWords(args);
  } catch (err) {
    throw invalid(text, (err as Error).message);
  }
  if (words.length === 0) throw invalid(text, `${what} needs at least one KEY=VALUE`);
  if (!words[0]!.includes('=')) {
    if (words.length < 2) throw invalid(text, `${what} needs KEY=VALUE or KEY VALUE`);
    const rest = args.trimStart().slice(args.trimStart().search(/\s/)).trim();
    return [[words[0]!, splitWords(rest).join(' ')]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw invalid(text, `"${w}" is not KEY=VALUE`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

/** EXPOSE 80, 80/tcp, 53/udp, 8000-8002: docker's "PORT/PROTO" keys, ranges expanded. */
function exposedPorts(text: string, args: string): string[] {
  const out: string[] = [];
  for (const spec of args.split(/\s+/).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(spec);
    const low = m ? Number(m[1]) : NaN;
    const high = m?.[2] ? Number(m[2]) : low;
    if (!m || low < 1 || high > 65535 || high < low) throw invalid(text, `"${spec}" is not a port (PORT[-PORT][/tcp|udp|sctp], 1 to 65535)`);
    for (let p = low; p <= high; p++) out.push(`${p}/${(m[3] ?? 'tcp').toLowerCase()}`);
  }
  if (out.length === 0) throw invalid(text, 'EXPOSE needs at least one port');
  return out;
}

/** Parses one `--change` value; throws a CtrError naming what is wrong. */
export function parseChange(text: string): ConfigChange {
  const trimmed = text.trim();
  const m = /^(\S+)\s*([\s\S]*)$/.exec(trimmed);
  if (!m) throw invalid(text, `give an instruction: one of ${CHANGE_INSTRUCTIONS.join(', ')}`);
  const op = m[1]!.toUpperCase();
  const args = m[2]!.trim();
  if (!(CHANGE_INSTRUCTIONS as readonly string[]).includes(op)) {
    throw invalid(text, `${m[1]} is not an instruction commit and import take; use one of ${CHANGE_INSTRUCTIONS.join(', ')}`);
  }
  switch (op as ChangeInstruction) {
    case 'CMD':
    case 'ENTRYPOINT': {
      if (args === '') throw invalid(text, `${op} needs a command, e.g. ${op} ["/bin/app", "--flag"]`);
      const exec = jsonArray(args);
      return { op: op as 'CMD' | 'ENTRYPOINT', exec, shell: exec ? undefined : args };
    }
    case 'ENV':
    case 'LABEL': {
      const pairs = keyValues(text, args, op);
      if (op === 'ENV' && pairs.some(([k]) => k === '')) throw invalid(text, 'ENV needs a variable name');
      return { op: op as 'ENV' | 'LABEL', pairs };
    }
    case 'EXPOSE':
      return { op: 'EXPOSE', ports: exposedPorts(text, args) };
    case 'USER':
      if (args === '' || /\s/.test(args)) throw invalid(text, 'USER takes one user, e.g. USER app or USER 1000:1000');
      return { op: 'USER', value: args };
    case 'WORKDIR':
      if (args === '') throw invalid(text, 'WORKDIR needs a path');
      return { op: 'WORKDIR', value: args };
    case 'STOPSIGNAL':
      if (!/^(\d+|(SIG)?[A-Z][A-Z0-9]*([+-]\d+)?)$/i.test(args) || (/^\d+$/.test(args) && (Number(args) < 1 || Number(args) > 64))) {
        throw invalid(text, 'STOPSIGNAL takes a signal name or number, e.g. SIGINT or 2');
      }
      return { op: 'STOPSIGNAL', value: args };
    case 'VOLUME': {
      const paths = jsonArray(args) ?? args.split(/\s+/).filter(Boolean);
      if (paths.length === 0 || paths.some((p) => p === '')) throw invalid(text, 'VOLUME needs at least one path');
      return { op: 'VOLUME', paths };
    }
  }
}

export function parseChanges(texts: string[]): ConfigChange[] {
  return texts.map(parseChange);
}

function posixJoin(base: string, rel: string): string {
  const parts: string[] = [];
  for (const p of `${base}/${rel}`.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') parts.pop();
    else parts.push(p);
  }
  return `/${parts.join('/')}`;
}

/**
 * Applies changes in order to a copy of an image's runtime config, with a Dockerfile's rules:
 * shell form runs through the image's SHELL (default /bin/sh -c), a relative WORKDIR is relative
 * to the one before, and ENTRYPOINT drops an inherited CMD unless a CMD came with the changes.
 */
export function applyChanges(config: ContainerConfig | undefined, changes: ConfigChange[]): ContainerConfig {
  const out: ContainerConfig = structuredClone(config ?? {});
  let cmdSet = false;
  const shell = out.Shell && out.Shell.length > 0 ? out.Shell : ['/bin/sh', '-c'];
  for (const c of changes) {
    switch (c.op) {
      case 'CMD':
        out.Cmd = c.exec ?? [...shell, c.shell!];
        cmdSet = true;
        break;
      case 'ENTRYPOINT':
        out.Entrypoint = c.exec ?? [...shell, c.shell!];
        if (!cmdSet) out.Cmd = null;
        break;
      case 'ENV': {
        const env = [...(out.Env ?? [])];
        for (const [k, v] of c.pairs) {
          const at = env.findIndex((e) => e.split('=', 1)[0] === k);
          if (at >= 0) env[at] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        out.Env = env;
        break;
      }
      case 'LABEL':
        out.Labels = { ...(out.Labels ?? {}), ...Object.fromEntries(c.pairs) };
        break;
      case 'EXPOSE':
        out.ExposedPorts = { ...(out.ExposedPorts ?? {}), ...Object.fromEntries(c.ports.map((p) => [p, {}])) };
        break;
      case 'USER':
        out.User = c.value;
        break;
      case 'WORKDIR':
        out.WorkingDir = c.value.startsWith('/') ? posixJoin('/', c.value) : posixJoin(out.WorkingDir || '/', c.value);
        break;
      case 'STOPSIGNAL':
        out.StopSignal = c.value;
        break;
      case 'VOLUME':
        out.Volumes = { ...(out.Volumes ?? {}), ...Object.fromEntries(c.paths.map((p) => [p, {}])) };
        break;
    }
  }
  return out;
}
