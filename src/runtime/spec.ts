import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism, constants as osConstants, hostname as osHostname, release } from 'node:os';
import { isAbsolute, join, posix, resolve as resolvePath } from 'node:path';
import { parseSize } from '../units.js';
import { CtrError, errorMessage } from '../errors.js';
import type { ContainerConfig } from '../image/types.js';
import { readBoundingSet, readLastCap, resolveCapabilities } from './capabilities.js';
import type { IdMapEntry, IdMapping } from './idmap.js';
import { defaultSeccompProfile, seccompFromProfile } from './seccomp.js';
import type { ExecUser } from './user.js';

export const OCI_VERSION = '1.0.2';

export interface RuntimeSpec {
  ociVersion: string;
  process: Process;
  root: Root;
  hostname?: string;
  mounts: Mount[];
  annotations?: Record<string, string>;
  linux: Linux;
}

export interface Root {
  path: string;
  readonly?: boolean;
}

export interface Process {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: User;
  args: string[];
  env: string[];
  cwd: string;
  capabilities?: LinuxCapabilities;
  rlimits?: POSIXRlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
  selinuxLabel?: string;
}

export interface User {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
  username?: string;
}

export interface LinuxCapabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

/** hard/soft = Infinity means RLIM_INFINITY (serializeSpec writes it as 2^64-1). */
export interface POSIXRlimit {
  type: string;
  hard: number;
  soft: number;
}

export interface Mount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export type NamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup';

export interface LinuxNamespace {
  type: NamespaceType;
  path?: string;
}

export interface LinuxDevice {
  path: string;
  type: 'c' | 'b' | 'u' | 'p';
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

/** A device cgroup rule; major/minor absent = any. */
export interface LinuxDeviceCgroup {
  allow: boolean;
  type?: 'a' | 'c' | 'b';
  major?: number;
  minor?: number;
  access?: string;
}

export interface LinuxResources {
  devices?: LinuxDeviceCgroup[];
  memory?: { limit?: number; reservation?: number; swap?: number };
  cpu?: { shares?: number; quota?: number; period?: number; cpus?: string; mems?: string };
  pids?: { limit: number };
}

export interface LinuxSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

export interface LinuxSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: LinuxSeccompArg[];
}

export interface LinuxSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  syscalls?: LinuxSyscall[];
}

export interface Linux {
  uidMappings?: IdMapEntry[];
  gidMappings?: IdMapEntry[];
  sysctl?: Record<string, string>;
  resources?: LinuxResources;
  cgroupsPath?: string;
  namespaces: LinuxNamespace[];
  devices?: LinuxDevice[];
  seccomp?: LinuxSeccomp;
  rootfsPropagation?: string;
  maskedPaths?: string[];
  readonlyPaths?: string[];
}

/** The spec as runc reads it: JSON, with RLIM_INFINITY written as the unsigned 64-bit value. */
export function serializeSpec(spec: RuntimeSpec): string {
  const text = JSON.stringify(spec, (_key, value: unknown) => (value === Infinity ? '\u0000RLIM_INFINITY' : value), 2);
  return text.replaceAll('"\\u0000RLIM_INFINITY"', '18446744073709551615');
}


export interface CommandOptions {
  /** `--entrypoint`: undefined when not given; '' clears the image's. A JSON array is taken as argv. */
  entrypoint?: string;
  /** Arguments after the image name. */
  args: string[];
}

/**
 * docker's rules: `--entrypoint` replaces ENTRYPOINT and drops the image's CMD; arguments on the
 * command line replace CMD; the result is ENTRYPOINT + CMD, which must not be empty.
 */
export function resolveCommand(image: ContainerConfig | undefined, opts: CommandOptions): string[] {
  let entrypoint: string[];
  let cmd: string[];
  if (opts.entrypoint !== undefined) {
    entrypoint = parseEntrypoint(opts.entrypoint);
    cmd = opts.args;
  } else {
    entrypoint = image?.Entrypoint ?? [];
    cmd = opts.args.length > 0 ? opts.args : (image?.Cmd ?? []);
  }
  const argv = [...entrypoint, ...cmd];
  if (argv.length === 0) {
    throw new CtrError('no command specified: the image has no ENTRYPOINT or CMD; give a command after the image name');
  }
  return argv;
}

function parseEntrypoint(value: string): string[] {
  if (value === '') return [];
  if (value.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(value);
      if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string')) return parsed as string[];
    } catch {
      // not JSON: a program whose name starts with "["
    }
  }
  return [value];
}

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function envKey(entry: string): string {
  const eq = entry.indexOf('=');
  return eq === -1 ? entry : entry.slice(0, eq);
}

/**
 * `-e` values as docker's client sends them: NAME=VALUE as is; a bare NAME takes ctr's own value
 * when set, else stays bare, which removes NAME from the container's environment.
 */
export function expandEnvFlags(flags: string[], lookup: (name: string) => string | undefined): string[] {
  return flags.map((f) => {
    const eq = f.indexOf('=');
    const key = eq === -1 ? f : f.slice(0, eq);
    if (key === '') throw new CtrError(`invalid environment variable "${f}": the name is empty; use -e NAME=VALUE`);
    if (eq !== -1) return f;
    const value = lookup(key);
    return value === undefined ? f : `${key}=${value}`;
  });
}

/**
 * An `--env-file` with docker's rules: one NAME=VALUE a line, value kept verbatim (no quotes
 * removed), leading blanks dropped, `#` lines and blank lines skipped, a bare NAME taken from
 * ctr's environment (and left out when unset).
 */
export function parseEnvFile(text: string, lookup: (name: string) => string | undefined = () => undefined, source = 'the env file'): string[] {
  const out: string[] = [];
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const rows = body.split('\n');
  if (rows.at(-1) === '') rows.pop();
  for (const [i, raw] of rows.entries()) {
    const line = raw.replace(/^\s+/u, '');
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    const name = (eq === -1 ? line : line.slice(0, eq)).replace(/^[ \t]+/, '');
    if (/[ \t]/.test(name)) throw new CtrError(`${source} line ${i + 1}: variable '${name}' contains whitespaces`);
    if (name === '') throw new CtrError(`${source} line ${i + 1}: no variable name on line '${line}'`);
    if (eq !== -1) {
      out.push(`${name}=${line.slice(eq + 1)}`);
      continue;
    }
    const value = lookup(name);
    if (value !== undefined) out.push(`${name.trim()}=${value}`);
  }
  return out;
}

export interface EnvOptions {
  image?: string[];
  /** `-e` and `--env-file` entries in command-line order, after expandEnvFlags/parseEnvFile. */
  user?: string[];
  hostname: string;
  tty: boolean;
  /** The user's home, added as HOME when nothing else sets it. */
  home?: string;
}

/**
 * The container's environment as docker makes it: PATH, HOSTNAME and TERM (with -t) first,
 * then the user's -e values and the image's Env (the user's win), a bare NAME removing NAME.
 */
export function buildEnv(opts: EnvOptions): string[] {
  const user = opts.user ?? [];
  const userKeys = new Set(user.map(envKey));
  const config = [...user, ...(opts.image ?? []).filter((e) => !userKeys.has(envKey(e)))];
  const env: (string | null)[] = [DEFAULT_PATH, `HOSTNAME=${opts.hostname}`];
  if (opts.tty) env.push('TERM=xterm');
  const index = new Map<string, number>();
  env.forEach((e, i) => index.set(envKey(e!), i));
  for (const e of config) {
    const key = envKey(e);
    const at = index.get(key);
    if (!e.includes('=')) {
      if (at !== undefined) env[at] = null;
      continue;
    }
    if (at !== undefined && env[at] !== null) env[at] = e;
    else {
      index.set(key, env.length);
      env.push(e);
    }
  }
  const out = env.filter((e): e is string => e !== null);
  if (opts.home !== undefined && !out.some((e) => envKey(e) === 'HOME')) out.push(`HOME=${opts.home}`);
  return out;
}

const SIGNALS: Record<string, number> = Object.fromEntries(
  Object.entries(osConstants.signals).map(([name, n]) => [name.slice(3), n]),
);
const SIGRTMIN = 34;
const SIGRTMAX = 64;

/** A signal number from "SIGTERM", "term", "15" or "RTMIN+3" (docker's ParseSignal). */
export function parseSignal(raw: string): number {
  const fail = () => new CtrError(`invalid signal "${raw}": use a name such as SIGTERM, TERM or a number such as 15`);
  if (/^\d+$/.test(raw)) {
    const n = Number(raw);
    if (n === 0 || n > SIGRTMAX) throw fail();
    return n;
  }
  const name = raw.toUpperCase().replace(/^SIG/, '');
  const known = SIGNALS[name];
  if (known !== undefined) return known;
  const rt = /^RT(MIN|MAX)(?:([+-])(\d+))?$/.exec(name);
  if (rt) {
    const base = rt[1] === 'MIN' ? SIGRTMIN : SIGRTMAX;
    const n = base + (rt[2] === '-' ? -1 : 1) * Number(rt[3] ?? 0);
    if (n >= SIGRTMIN && n <= SIGRTMAX) return n;
  }
  throw fail();
}


export type Propagation = 'private' | 'rprivate' | 'shared' | 'rshared' | 'slave' | 'rslave';
const PROPAGATIONS: readonly string[] = ['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'];

export interface BindMountRequest {
  type: 'bind';
  /** An absolute host path. */
  source: string;
  target: string;
  readonly: boolean;
  propagation?: Propagation;
  /** false for `bind-nonrecursive`: submounts of the source are not carried along. */
  recursive?: boolean;
  /** `-v` creates a missing host directory; `--mount` refuses a missing source. */
  createHostPath?: boolean;
}

export interface VolumeMountRequest {
  type: 'volume';
  /** undefined = an anonymous volume. */
  name?: string;
  target: string;
  readonly: boolean;
  /** Do not copy the image's files at the target into a new, empty volume. */
  nocopy: boolean;
  subpath?: string;
  driver?: string;
  labels?: Record<string, string>;
  driverOptions?: Record<string, string>;
}

export interface TmpfsMountRequest {
  type: 'tmpfs';
  target: string;
  readonly: boolean;
  /** tmpfs mount options (size=..., mode=..., exec, ...), as the user gave them. */
  options: string[];
}

/** What `-v`, `--mount` and `--tmpfs` ask for; the engine turns volumes into bind mounts. */
export type MountRequest = BindMountRequest | VolumeMountRequest | TmpfsMountRequest;

/** A mount buildSpec can place: volumes already resolved to their data directory. */
export type ContainerMount = BindMountRequest | TmpfsMountRequest;

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

function checkTarget(target: string, fail: (why: string) => CtrError): string {
  if (!target.startsWith('/')) throw fail(`invalid mount path: '${target}' mount path must be absolute`);
  const clean = posix.normalize(target).replace(/(.)\/+$/, '$1');
  if (clean === '/') throw fail("destination can't be '/'");
  return clean;
}

function checkVolumeName(name: string, fail: (why: string) => CtrError): void {
  if (!VOLUME_NAME.test(name)) {
    throw fail(
      `"${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed; to pass a host directory, use an absolute path`,
    );
  }
}

/** The mode of `-v`: rw|ro, z|Z, a propagation, nocopy, a consistency; each kind at most once. */
function parseVolumeMode(mode: string): { readonly: boolean; propagation?: Propagation; nocopy: boolean } | null {
  const out: { readonly: boolean; propagation?: Propagation; nocopy: boolean } = { readonly: false, nocopy: false };
  if (mode === '') return out;
  const seen = new Set<string>();
  for (const m of mode.split(',')) {
    let kind: string;
    if (m === 'rw' || m === 'ro') {
      kind = 'rw';
      out.readonly = m === 'ro';
    } else if (m === 'z' || m === 'Z') kind = 'label';
    else if (PROPAGATIONS.includes(m)) {
      kind = 'propagation';
      out.propagation = m as Propagation;
    } else if (m === 'nocopy') {
      kind = 'copy';
      out.nocopy = true;
    } else if (m === 'consistent' || m === 'cached' || m === 'delegated') kind = 'consistency';
    else return null;
    if (seen.has(kind)) return null;
    seen.add(kind);
  }
  return out;
}

/**
 * `-v [SOURCE:]TARGET[:MODE]` with docker's grammar: an absolute (or ./relative) SOURCE is a
 * bind mount, a name is a named volume, no SOURCE is an anonymous volume.
 */
export function parseVolumeFlag(spec: string, cwd: string = process.cwd()): MountRequest {
  const invalid = (why?: string) => new CtrError(`invalid volume specification: '${spec}'${why ? `: ${why}` : ''}; use -v /host/path:/container/path[:ro] or -v NAME:/container/path`);
  const parts = spec.split(':');
  if (parts[0] === '' || parts.length > 3) throw invalid();
  let source = '';
  let target: string;
  let mode = '';
  if (parts.length === 1) target = parts[0]!;
  else if (parts.length === 2) {
    if (parseVolumeMode(parts[1]!) !== null) throw invalid();
    [source, target] = parts as [string, string];
  } else [source, target, mode] = parts as [string, string, string];
  const m = parseVolumeMode(mode);
  if (m === null) throw invalid(`invalid mode: ${mode}`);
  target = checkTarget(target, invalid);
  if (source.startsWith('.')) source = resolvePath(cwd, source);
  if (isAbsolute(source)) {
    if (m.nocopy) throw invalid('nocopy applies to volumes, not to bind mounts');
    return { type: 'bind', source: posix.normalize(source), target, readonly: m.readonly, propagation: m.propagation, recursive: true, createHostPath: true };
  }
  if (m.propagation) throw invalid('a propagation mode applies to bind mounts, not to volumes');
  if (source !== '') checkVolumeName(source, invalid);
  return { type: 'volume', ...(source !== '' ? { name: source } : {}), target, readonly: m.readonly, nocopy: m.nocopy };
}

/** One CSV record, as Go's encoding/csv reads the value of --mount. */
function csvFields(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i <= text.length) {
    if (text[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new Error('extraneous or missing " in quoted-field');
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            value += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += text[i++];
      }
      if (i < text.length && text[i] !== ',') throw new Error('extraneous or missing " in quoted-field');
      out.push(value);
      i++;
    } else {
      const end = text.indexOf(',', i);
      const stop = end === -1 ? text.length : end;
      out.push(text.slice(i, stop));
      i = stop + 1;
    }
  }
  return out;
}

function parseBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(value)) return false;
  return undefined;
}

/** The tmpfs size option docker writes: the largest of k, m, g that divides the size evenly. */
function tmpfsSizeOption(bytes: number): string {
  let size = bytes;
  let suffix = '';
  for (const s of ['k', 'm', 'g']) {
    if (size % 1024 !== 0) break;
    size /= 1024;
    suffix = s;
  }
  return `size=${size}${suffix}`;
}

/**
 * `--mount type=bind|volume|tmpfs,source=...,target=...[,readonly][,...]` with docker's keys:
 * src/source, dst/destination/target, ro/readonly, bind-propagation, bind-nonrecursive,
 * volume-nocopy, volume-subpath, volume-label, volume-driver, volume-opt, tmpfs-size, tmpfs-mode.
 */
export function parseMountFlag(spec: string, cwd: string = process.cwd()): MountRequest {
  const fail = (why: string) => new CtrError(`invalid --mount "${spec}": ${why}`);
  let fields: string[];
  try {
    fields = csvFields(spec);
  } catch (err) {
    throw fail(errorMessage(err));
  }
  let type = 'volume';
  let source = '';
  let target = '';
  let readonly = false;
  const bind: { propagation?: Propagation; recursive?: boolean } = {};
  const volume: { nocopy?: boolean; subpath?: string; driver?: string; labels?: Record<string, string>; driverOptions?: Record<string, string> } = {};
  const tmpfs: { size?: number; mode?: number } = {};
  let usedBind = false;
  let usedVolume = false;
  let usedTmpfs = false;
  const setBool = (key: string, val: string): boolean => {
    const b = parseBool(val);
    if (b === undefined) throw fail(`invalid value for ${key}: ${val}`);
    return b;
  };
  const keyValue = (val: string, into: Record<string, string>) => {
    const eq = val.indexOf('=');
    into[eq === -1 ? val : val.slice(0, eq)] = eq === -1 ? '' : val.slice(eq + 1);
  };
  for (const field of fields) {
    const eq = field.indexOf('=');
    const key = (eq === -1 ? field : field.slice(0, eq)).toLowerCase();
    const val = eq === -1 ? undefined : field.slice(eq + 1);
    if (val === undefined) {
      if (key === 'readonly' || key === 'ro') readonly = true;
      else if (key === 'volume-nocopy') {
        volume.nocopy = true;
        usedVolume = true;
      } else if (key === 'bind-nonrecursive') {
        bind.recursive = false;
        usedBind = true;
      } else throw fail(`invalid field '${field}' must be a key=value pair`);
      continue;
    }
    switch (key) {
      case 'type':
        type = val.toLowerCase();
        break;
      case 'source':
      case 'src':
        source = val === '.' || val.startsWith('./') ? resolvePath(cwd, val) : val;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        target = val;
        break;
      case 'readonly':
      case 'ro':
        readonly = setBool(key, val);
        break;
      case 'consistency':
        break;
      case 'bind-propagation':
        if (!PROPAGATIONS.includes(val.toLowerCase())) throw fail(`invalid propagation mode: ${val}`);
        bind.propagation = val.toLowerCase() as Propagation;
        usedBind = true;
        break;
      case 'bind-nonrecursive':
        bind.recursive = !setBool(key, val);
        usedBind = true;
        break;
      case 'bind-recursive':
        if (val !== 'enabled' && val !== 'disabled') throw fail(`invalid value for ${key}: ${val}; ctr supports enabled or disabled`);
        bind.recursive = val === 'enabled';
        usedBind = true;
        break;
      case 'volume-nocopy':
        volume.nocopy = setBool(key, val);
        usedVolume = true;
        break;
      case 'volume-subpath':
        volume.subpath = val;
        usedVolume = true;
        break;
      case 'volume-driver':
        volume.driver = val;
        usedVolume = true;
        break;
      case 'volume-label':
        keyValue(val, (volume.labels ??= {}));
        usedVolume = true;
        break;
      case 'volume-opt':
        keyValue(val, (volume.driverOptions ??= {}));
        usedVolume = true;
        break;
      case 'tmpfs-size':
        try {
          tmpfs.size = parseSize(val);
        } catch {
          throw fail(`invalid value for ${key}: ${val}`);
        }
        usedTmpfs = true;
        break;
      case 'tmpfs-mode':
        if (!/^[0-7]+$/.test(val) || Number.parseInt(val, 8) > 0xffffffff) throw fail(`invalid value for ${key}: ${val}`);
        tmpfs.mode = Number.parseInt(val, 8);
        usedTmpfs = true;
        break;
      default:
        throw fail(`unexpected key '${key}' in '${field}'`);
    }
  }
  if (type === '') throw fail('type is required');
  if (target === '') throw fail('target is required');
  if (usedVolume && type !== 'volume') throw fail(`cannot mix 'volume-*' options with mount type '${type}'`);
  if (usedBind && type !== 'bind') throw fail(`cannot mix 'bind-*' options with mount type '${type}'`);
  if (usedTmpfs && type !== 'tmpfs') throw fail(`cannot mix 'tmpfs-*' options with mount type '${type}'`);
  const cleanTarget = checkTarget(target, fail);
  switch (type) {
    case 'bind':
      if (source === '') throw fail('field Source must not be empty for type "bind"');
      if (!isAbsolute(source)) throw fail(`invalid mount config for type "bind": source ${source} must be an absolute path`);
      return {
        type: 'bind',
        source: posix.normalize(source),
        target: cleanTarget,
        readonly,
        ...(bind.propagation ? { propagation: bind.propagation } : {}),
        recursive: bind.recursive ?? true,
        createHostPath: false,
      };
    case 'volume':
      if (source !== '') checkVolumeName(source, fail);
      return {
        type: 'volume',
        ...(source !== '' ? { name: source } : {}),
        target: cleanTarget,
        readonly,
        nocopy: volume.nocopy ?? false,
        ...(volume.subpath !== undefined ? { subpath: volume.subpath } : {}),
        ...(volume.driver !== undefined ? { driver: volume.driver } : {}),
        ...(volume.labels ? { labels: volume.labels } : {}),
        ...(volume.driverOptions ? { driverOptions: volume.driverOptions } : {}),
      };
    case 'tmpfs': {
      if (source !== '') throw fail('field Source must not be specified for type "tmpfs"');
      const options: string[] = [];
      if (tmpfs.size) options.push(tmpfsSizeOption(tmpfs.size));
      if (tmpfs.mode) options.push(`mode=${tmpfs.mode.toString(8)}`);
      return { type: 'tmpfs', target: cleanTarget, readonly, options };
    }
    default:
      throw fail(`mount type "${type}" is not supported: use bind, volume or tmpfs`);
  }
}

const TMPFS_FLAGS = new Set([
  'rw', 'ro', 'exec', 'noexec', 'suid', 'nosuid', 'dev', 'nodev', 'atime', 'noatime', 'diratime', 'nodiratime',
  'relatime', 'norelatime', 'strictatime', 'nostrictatime', 'sync', 'async', 'dirsync', 'mand', 'nomand',
  'private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'tmpcopyup', 'notmpcopyup', 'inode32', 'inode64', 'noswap',
]);
const TMPFS_DATA = new Set(['size', 'mode', 'uid', 'gid', 'nr_inodes', 'nr_blocks', 'mpol', 'huge']);

/** `--tmpfs /path[:options]` (options as for mount -t tmpfs: size=64m,mode=1777,exec...). */
export function parseTmpfsFlag(spec: string): TmpfsMountRequest {
  const fail = (why: string) => new CtrError(`invalid --tmpfs "${spec}": ${why}; use --tmpfs /path[:size=64m,mode=1777,...]`);
  const colon = spec.indexOf(':');
  const target = checkTarget(colon === -1 ? spec : spec.slice(0, colon), fail);
  const options = colon === -1 || spec.slice(colon + 1) === '' ? [] : spec.slice(colon + 1).split(',');
  for (const o of options) {
    const key = o.split('=')[0]!;
    if (!TMPFS_FLAGS.has(o) && !(o.includes('=') && TMPFS_DATA.has(key))) throw fail(`unknown tmpfs option "${o}"`);
  }
  return { type: 'tmpfs', target, readonly: options.lastIndexOf('ro') > options.lastIndexOf('rw'), options };
}

/** Image VOLUMEs no user mount covers: each becomes an anonymous volume. */
export function imageVolumeTargets(image: ContainerConfig | undefined, mounts: { target: string }[]): string[] {
  const taken = new Set(mounts.map((m) => m.target));
  const out: string[] = [];
  for (const raw of Object.keys(image?.Volumes ?? {})) {
    if (!raw.startsWith('/')) continue;
    const target = posix.normalize(raw).replace(/(.)\/+$/, '$1');
    if (target !== '/' && !taken.has(target) && !out.includes(target)) out.push(target);
  }
  return out;
}


/** Docker's --ulimit names and the kernel's resource each stands for. */
const ULIMITS: Record<string, string> = {
  core: 'RLIMIT_CORE',
  cpu: 'RLIMIT_CPU',
  data: 'RLIMIT_DATA',
  fsize: 'RLIMIT_FSIZE',
  locks: 'RLIMIT_LOCKS',
  memlock: 'RLIMIT_MEMLOCK',
  msgqueue: 'RLIMIT_MSGQUEUE',
  nice: 'RLIMIT_NICE',
  nofile: 'RLIMIT_NOFILE',
  nproc: 'RLIMIT_NPROC',
  rss: 'RLIMIT_RSS',
  rtprio: 'RLIMIT_RTPRIO',
  rttime: 'RLIMIT_RTTIME',
  sigpending: 'RLIMIT_SIGPENDING',
  stack: 'RLIMIT_STACK',
};

export interface Ulimit {
  /** RLIMIT_NOFILE etc. */
  type: string;
  soft: number;
  hard: number;
}

/** `--ulimit nofile=1024[:2048]`; -1 means unlimited. */
export function parseUlimit(spec: string): Ulimit {
  const fail = (why: string) => new CtrError(`invalid --ulimit "${spec}": ${why}; use NAME=SOFT[:HARD], e.g. nofile=1024:2048`);
  const eq = spec.indexOf('=');
  if (eq === -1) throw fail('invalid ulimit argument');
  const name = spec.slice(0, eq);
  const type = ULIMITS[name];
  if (!type) throw fail(`invalid ulimit type: ${name} (known: ${Object.keys(ULIMITS).join(', ')})`);
  const values = spec.slice(eq + 1).split(':');
  if (values.length > 2) throw fail('too many limit values, can only have up to two, soft[:hard]');
  const num = (v: string): number => {
    if (!/^-?\d+$/.test(v)) throw fail(`"${v}" is not a number`);
    const n = Number(v);
    if (n === -1) return Infinity;
    if (n < 0) throw fail(`"${v}" is negative`);
    return n;
  };
  const soft = num(values[0]!);
  const hard = values.length === 2 ? num(values[1]!) : soft;
  if (soft > hard) throw fail(`ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`);
  return { type, soft, hard };
}

/** This process's limits by resource, from /proc/self/limits (Infinity = unlimited). */
export type HostRlimits = Record<string, { soft: number; hard: number }>;

const PROC_LIMITS: Record<string, string> = {
  'Max cpu time': 'RLIMIT_CPU',
  'Max file size': 'RLIMIT_FSIZE',
  'Max data size': 'RLIMIT_DATA',
  'Max stack size': 'RLIMIT_STACK',
  'Max core file size': 'RLIMIT_CORE',
  'Max resident set': 'RLIMIT_RSS',
  'Max processes': 'RLIMIT_NPROC',
  'Max open files': 'RLIMIT_NOFILE',
  'Max locked memory': 'RLIMIT_MEMLOCK',
  'Max address space': 'RLIMIT_AS',
  'Max file locks': 'RLIMIT_LOCKS',
  'Max pending signals': 'RLIMIT_SIGPENDING',
  'Max msgqueue size': 'RLIMIT_MSGQUEUE',
  'Max nice priority': 'RLIMIT_NICE',
  'Max realtime priority': 'RLIMIT_RTPRIO',
  'Max realtime timeout': 'RLIMIT_RTTIME',
};

export function parseProcLimits(text: string): HostRlimits {
  const out: HostRlimits = {};
  for (const line of text.split('\n')) {
    const m = /^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    const type = m ? PROC_LIMITS[m[1]!] : undefined;
    if (!m || !type) continue;
    const value = (v: string) => (v === 'unlimited' ? Infinity : Number(v));
    out[type] = { soft: value(m[2]!), hard: value(m[3]!) };
  }
  return out;
}

export interface ResourceOptions {
  /** `--memory`, e.g. "512m". */
  memory?: string;
  /** `--cpus`, e.g. "1.5". */
  cpus?: string;
  /** `--pids-limit`; 0 or -1 = unlimited. */
  pidsLimit?: number;
}

const CPU_PERIOD = 100_000;
const MIN_MEMORY = 6 * 1024 * 1024;

/** linux.resources for --memory, --cpus and --pids-limit; undefined when none was asked for. */
export function buildResources(opts: ResourceOptions, hostCpus: number): LinuxResources | undefined {
  const out: LinuxResources = {};
  if (opts.memory !== undefined) {
    const limit = parseSize(opts.memory);
    if (limit !== 0 && limit < MIN_MEMORY) throw new CtrError(`--memory ${opts.memory} is too small: the minimum memory limit allowed is 6MB`);
    if (limit > 0) out.memory = { limit };
  }
  if (opts.cpus !== undefined) {
    const cpus = Number(opts.cpus);
    if (!/^\d*\.?\d+$/.test(opts.cpus.trim()) || !Number.isFinite(cpus)) throw new CtrError(`invalid --cpus "${opts.cpus}": use a number such as 1.5`);
    if (cpus !== 0) {
      if (cpus < 0.01 || cpus > hostCpus) {
        throw new CtrError(`--cpus ${opts.cpus} is out of range: the range of CPUs is from 0.01 to ${hostCpus.toFixed(2)}, as there are only ${hostCpus} CPUs available`);
      }
      out.cpu = { quota: Math.round(cpus * CPU_PERIOD), period: CPU_PERIOD };
    }
  }
  if (opts.pidsLimit !== undefined && opts.pidsLimit > 0) out.pids = { limit: opts.pidsLimit };
  return Object.keys(out).length ? out : undefined;
}

export type SeccompChoice = { kind: 'default' } | { kind: 'unconfined' } | { kind: 'profile'; profile: unknown; source: string };

export interface SecurityOptions {
  seccomp: SeccompChoice;
  noNewPrivileges: boolean;
  /** An AppArmor profile to apply (only when AppArmor is enabled here). */
  apparmor?: string;
  /** `label=disable` and other label options: accepted, SELinux labels are not used. */
  label: string[];
  /** `systempaths=unconfined`: no masked or read-only /proc and /sys paths. */
  unmaskSystemPaths: boolean;
  /** Things the user should know (options accepted but without effect here). */
  notices: string[];
}

export interface SecurityOptContext {
  apparmorEnabled: boolean;
  /** Reads a seccomp profile file (docker's client reads it too); tests pass a stub. */
  readFile?: (path: string) => string;
}

/** Whether the kernel has AppArmor on (/sys/module/apparmor/parameters/enabled). */
export function apparmorEnabled(): boolean {
  try {
    return readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y';
  } catch {
    return false;
  }
}

/** `--security-opt` values: seccomp=unconfined|PATH, no-new-privileges[=bool], apparmor=, label=, systempaths=unconfined. */
export function parseSecurityOpts(opts: string[], ctx: SecurityOptContext): SecurityOptions {
  const out: SecurityOptions = { seccomp: { kind: 'default' }, noNewPrivileges: false, label: [], unmaskSystemPaths: false, notices: [] };
  for (const opt of opts) {
    const fail = (why: string) => new CtrError(`invalid --security-opt "${opt}": ${why}`);
    if (opt === 'no-new-privileges') {
      out.noNewPrivileges = true;
      continue;
    }
    const m = /^([^=:]+)[=:](.*)$/s.exec(opt);
    if (!m) throw fail('use KEY=VALUE, e.g. seccomp=unconfined or no-new-privileges');
    const [, key, value] = m as unknown as [string, string, string];
    switch (key) {
      case 'no-new-privileges': {
        const b = parseBool(value);
        if (b === undefined) throw fail('the value must be true or false');
        out.noNewPrivileges = b;
        break;
      }
      case 'seccomp':
        if (value === 'unconfined') out.seccomp = { kind: 'unconfined' };
        else if (value === 'builtin' || value === 'default') out.seccomp = { kind: 'default' };
        else {
          let text: string;
          try {
            text = (ctx.readFile ?? ((p) => readFileSync(p, 'utf8')))(value);
          } catch (err) {
            throw new CtrError(`cannot read the seccomp profile ${value} given to --security-opt: ${errorMessage(err)}`);
          }
          let profile: unknown;
          try {
            profile = JSON.parse(text);
          } catch (err) {
            throw new CtrError(`the seccomp profile ${value} is not valid JSON: ${errorMessage(err)}`);
          }
          out.seccomp = { kind: 'profile', profile, source: `the file ${value}` };
        }
        break;
      case 'apparmor':
        if (!ctx.apparmorEnabled) out.notices.push(`AppArmor is not enabled on this host, so --security-opt apparmor=${value} has no effect`);
        else if (value !== 'unconfined') out.apparmor = value;
        break;
      case 'label':
        out.label.push(value);
        break;
      case 'systempaths':
        if (value !== 'unconfined') throw fail('the only value is systempaths=unconfined');
        out.unmaskSystemPaths = true;
        break;
      default:
        throw fail('known options are seccomp=, no-new-privileges, apparmor=, label= and systempaths=unconfined');
    }
  }
  return out;
}


export interface HostFacts {
  /** process.arch. */
  arch: string;
  /** /proc/sys/kernel/cap_last_cap. */
  lastCap: number;
  /** ctr's bounding set (CapBnd): containers cannot hold capabilities outside it. */
  boundingCaps?: string[];
  /** This process's rlimits: the spec never asks for more. */
  rlimits: HostRlimits;
  /** True when ctr may raise hard limits (real root with CAP_SYS_RESOURCE). */
  canRaiseRlimits: boolean;
  cpus: number;
  kernel: string;
  /** The host's name, the container's with --network host. */
  hostname: string;
  /** cgroup v2 only: a private cgroup namespace, as docker does there. */
  cgroupNamespace: boolean;
  /** Device nodes of the host's /dev, for --privileged as root. */
  devices?: LinuxDevice[];
  /**
   * Overlay features the kernel turns on by default here (module parameters): a container's
   * changes must be readable from its upper directory alone (diff, commit), so mounts turn them off.
   */
  overlayDefaultsOn?: ('metacopy' | 'redirect_dir')[];
}

function hasCapability(status: string, cap: number): boolean {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return m ? ((BigInt(`0x${m[1]}`) >> BigInt(cap)) & 1n) === 1n : false;
}

/** What buildSpec needs to know about this host, read once. */
export function probeHost(opts: { devices?: boolean } = {}): HostFacts {
  const read = (p: string) => {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      return '';
    }
  };
  const CAP_SYS_RESOURCE = 24;
  const cgroup2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
  return {
    arch: process.arch,
    lastCap: readLastCap(),
    boundingCaps: readBoundingSet(),
    rlimits: parseProcLimits(read('/proc/self/limits')),
    canRaiseRlimits: process.getuid?.() === 0 && hasCapability(read('/proc/self/status'), CAP_SYS_RESOURCE) && /^\s*0\s+0\s+4294967295\s*$/.test(read('/proc/self/uid_map')),
    cpus: availableParallelism(),
    kernel: release(),
    hostname: osHostname(),
    cgroupNamespace: cgroup2 && existsSync('/proc/self/ns/cgroup'),
    overlayDefaultsOn: (['metacopy', 'redirect_dir'] as const).filter((f) => /^[Yy1]/.test(read(`/sys/module/overlay/parameters/${f}`))),
    ...(opts.devices ? { devices: hostDevices() } : {}),
  };
}

const SKIP_DEV = new Set(['/dev/pts', '/dev/shm', '/dev/mqueue', '/dev/fd', '/dev/.lxc', '/dev/.udev', '/dev/console']);

/** The character and block devices under /dev, as --privileged gives them to a root container. */
export function hostDevices(dir = '/dev'): LinuxDevice[] {
  const out: LinuxDevice[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const path = join(dir, name);
    if (SKIP_DEV.has(path)) continue;
    let st;
    try {
      st = statSync(path, { throwIfNoEntry: false });
    } catch {
      continue;
    }
    if (!st) continue;
    if (st.isDirectory()) out.push(...hostDevices(path));
    else if (st.isCharacterDevice() || st.isBlockDevice()) {
      // glibc's dev_t layout; BigInt because JavaScript shifts wrap at 32 bits.
      const rdev = BigInt(st.rdev);
      const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
      const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
      out.push({ path, type: st.isCharacterDevice() ? 'c' : 'b', major, minor, fileMode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
    }
  }
  return out;
}


export type RootfsInput =
  /** Overlay mounted by the runtime inside the container's namespaces over an empty root.path. */
  | { kind: 'overlay'; path: string; lowerdirs: string[]; upperdir: string; workdir: string }
  /** An already assembled root (fuse-overlayfs mount or a copy). */
  | { kind: 'dir'; path: string };

export interface SpecInput {
  /** The container's id (64 hex); the default hostname is its first 12 characters. */
  id: string;
  /** The image's runtime config (ImageConfig.config). */
  image?: ContainerConfig;
  /** The command to run, from resolveCommand. */
  args: string[];
  /** `-e` and `--env-file` entries, after expandEnvFlags/parseEnvFile. */
  env?: string[];
  /** From resolveUser / resolveUserInLayers. */
  user: ExecUser;
  /** `-w`; else the image's WorkingDir; else /. */
  workdir?: string;
  /** `--hostname`. */
  hostname?: string;
  tty?: boolean;
  consoleSize?: { height: number; width: number };
  /** `--read-only`. */
  readOnly?: boolean;
  /** `--label`s (the image's labels are not copied): become annotations. */
  labels?: Record<string, string>;
  rootfs: RootfsInput;
  mapping: IdMapping;
  /**
   * Rootless only: 'runtime' (default) = the spec asks runc for the user namespace and its maps;
   * 'caller' = ctr starts the runtime inside a user namespace it made, so the spec has none.
   */
  userNamespace?: 'runtime' | 'caller';
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  security?: SecurityOptions;
  /** User mounts with volumes resolved to their data directories. */
  mounts?: ContainerMount[];
  /** Files ctr made for this container, bind-mounted over the image's. */
  etcFiles?: { hosts?: string; hostname?: string; resolvConf?: string };
  /** `--network`: 'private' (own namespace, loopback only) is the default; 'none' is the same here. */
  network?: 'private' | 'none' | 'host';
  /** `--init`: the host path of catatonit or tini, bind-mounted at INIT_PATH. */
  init?: string;
  ulimits?: Ulimit[];
  resources?: LinuxResources;
  /** `--shm-size` in bytes (default 64 MiB). */
  shmSize?: number;
  /** Decided by the caller (only where cgroups are usable). */
  cgroupsPath?: string;
  host: HostFacts;
  /** Receives notes the user should see (a limit lowered to what the host allows...). */
  warn?: (message: string) => void;
}

export const INIT_PATH = '/run/ctr-init';

export const MASKED_PATHS = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

const DEFAULT_NOFILE = 1_048_576;
const DEFAULT_SHM = 64 * 1024 * 1024;

/** Docker's device cgroup: nothing but the usual nodes (and mknod of any, which needs CAP_MKNOD). */
const DEFAULT_DEVICE_RULES: LinuxDeviceCgroup[] = [
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' },
  { allow: true, type: 'c', major: 136, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' },
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' },
];

function mapsId(map: IdMapEntry[], id: number): boolean {
  return map.some((e) => id >= e.containerID && id < e.containerID + e.size);
}

function clampRlimits(limits: Ulimit[], host: HostFacts, warn?: (m: string) => void, asked = true): POSIXRlimit[] {
  return limits.map((l) => {
    const max = host.canRaiseRlimits ? Infinity : (host.rlimits[l.type]?.hard ?? Infinity);
    const hard = Math.min(l.hard, max);
    const soft = Math.min(l.soft, hard);
    if (asked && (hard < l.hard || soft < l.soft)) {
      const show = (n: number) => (n === Infinity ? 'unlimited' : String(n));
      warn?.(`${l.type} lowered to ${show(soft)}:${show(hard)}, the most this host allows ctr (asked ${show(l.soft)}:${show(l.hard)})`);
    }
    return { type: l.type, hard, soft };
  });
}

function overlayMount(root: Extract<RootfsInput, { kind: 'overlay' }>, userns: boolean, host: HostFacts): Mount {
  const paths = [...root.lowerdirs, root.upperdir, root.workdir];
  const bad = paths.find((p) => /[,:]/.test(p));
  if (bad) throw new CtrError(`cannot mount the container's overlay: the path ${bad} contains "," or ":"; move the store to a path without them (--root)`);
  if (root.lowerdirs.length === 0) throw new CtrError('cannot mount the container overlay: the image has no layers');
  const options = [`lowerdir=${root.lowerdirs.join(':')}`, `upperdir=${root.upperdir}`, `workdir=${root.workdir}`];
  // In a user namespace (userxattr) the kernel allows neither feature anyway.
  if (userns) options.push('userxattr');
  else for (const f of host.overlayDefaultsOn ?? []) options.push(`${f}=off`);
  const size = options.join(',').length;
  if (size > 4095) {
    throw new CtrError(`cannot mount the container's overlay: its ${root.lowerdirs.length} layer paths take ${size} bytes, more than the 4095 a mount allows; use shorter store and run directories (--root, --runroot)`);
  }
  return { destination: '/', type: 'overlay', source: 'overlay', options };
}

function bindOptions(m: BindMountRequest): string[] {
  return [m.recursive === false ? 'bind' : 'rbind', ...(m.readonly ? ['ro'] : []), m.propagation ?? 'rprivate'];
}

/** tmpfs options: docker's noexec,nosuid,nodev first, the user's after; a later flag wins over its opposite. */
function tmpfsOptions(m: TmpfsMountRequest): string[] {
  const opposite: Record<string, string> = { exec: 'noexec', suid: 'nosuid', dev: 'nodev', rw: 'ro' };
  for (const [a, b] of Object.entries(opposite)) opposite[b] = a;
  const merged: string[] = [];
  for (const o of ['noexec', 'nosuid', 'nodev', ...m.options, ...(m.readonly ? ['ro'] : [])]) {
    const key = o.includes('=') ? `${o.split('=')[0]}=` : o;
    const clash = merged.findIndex((x) => (x.includes('=') ? `${x.split('=')[0]}=` : x) === key || x === opposite[o]);
    if (clash !== -1) merged.splice(clash, 1);
    merged.push(o);
  }
  return merged;
}

function depth(path: string): number {
  return path.split('/').length;
}

/**
 * The OCI runtime spec (config.json) for a container: docker's defaults (capabilities, masked
 * paths, seccomp, /dev, /proc, /sys, shm, mqueue), the image's config and the user's flags.
 */
export function buildSpec(input: SpecInput): RuntimeSpec {
  const { host, mapping, user } = input;
  const userns = mapping.mode !== 'root';
  const runtimeUserns = userns && input.userNamespace !== 'caller';
  const hostNetwork = input.network === 'host';
  const privileged = input.privileged ?? false;
  const security = input.security ?? { seccomp: { kind: 'default' }, noNewPrivileges: false, label: [], unmaskSystemPaths: false, notices: [] };
  const hostname = input.hostname || (hostNetwork ? host.hostname : input.id.slice(0, 12));

  const workdir = input.workdir || input.image?.WorkingDir || '/';
  if (!workdir.startsWith('/')) throw new CtrError(`the working directory '${workdir}' is invalid: it needs to be an absolute path`);

  const caps = resolveCapabilities({
    capAdd: input.capAdd,
    capDrop: input.capDrop,
    privileged,
    lastCap: host.lastCap,
    // A new user namespace starts with a full bounding set; without one ours is the limit.
    bounding: runtimeUserns ? undefined : host.boundingCaps,
    onUnavailable: (c) => input.warn?.(`${c} is not given to the container: ctr itself does not have it in its bounding set`),
  });
  // docker: a non-root user gets the set only as its bounding set, as execve would give it.
  const capabilities: LinuxCapabilities = user.uid === 0 ? { bounding: caps, effective: caps, permitted: caps } : { bounding: caps };

  const args = input.init ? [INIT_PATH, '--', ...input.args] : input.args;
  const env = buildEnv({ image: input.image?.Env ?? undefined, user: input.env, hostname, tty: input.tty ?? false, home: user.home });

  const wanted = new Map<string, Ulimit>([['RLIMIT_NOFILE', { type: 'RLIMIT_NOFILE', soft: DEFAULT_NOFILE, hard: DEFAULT_NOFILE }]]);
  const defaults = clampRlimits([...wanted.values()], host, undefined, false);
  const asked = input.ulimits ?? [];
  const rlimits = [...defaults.filter((d) => !asked.some((a) => a.type === d.type)), ...clampRlimits(asked, host, input.warn)];

  let additionalGids = user.additionalGids;
  if (runtimeUserns && additionalGids.length > 0) {
    // runc refuses setgroups when not root itself; like runc, only groups asked for are worth a word.
    if (user.groupAddGids?.length) {
      input.warn?.(`--group-add ${user.groupAddGids.join(',')} has no effect rootless: the runtime cannot set supplementary groups when it makes the user namespace itself`);
    }
    additionalGids = [];
  }
  const proc: Process = {
    terminal: input.tty ?? false,
    ...(input.consoleSize && input.tty ? { consoleSize: input.consoleSize } : {}),
    user: { uid: user.uid, gid: user.gid, ...(additionalGids.length ? { additionalGids } : {}) },
    args,
    env,
    cwd: posix.normalize(workdir),
    capabilities,
    rlimits,
    noNewPrivileges: security.noNewPrivileges,
    ...(security.apparmor && !privileged ? { apparmorProfile: security.apparmor } : {}),
  };

  const userMounts = input.mounts ?? [];
  const seen = new Set<string>();
  for (const m of userMounts) {
    if (seen.has(m.target)) throw new CtrError(`duplicate mount point: ${m.target} is given twice in -v, --mount or --tmpfs; mount one thing there`);
    seen.add(m.target);
  }
  const devMounted = seen.has('/dev');
  const ptsGid = !userns || mapsId(mapping.gidMap, 5);
  const sysRo = privileged ? [] : ['ro'];
  const defaultMounts: Mount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', ...(ptsGid ? ['gid=5'] : [])],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${input.shmSize ?? DEFAULT_SHM}`] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    // sysfs needs a network namespace owned by the container's user namespace; else bind the host's.
    userns && hostNetwork
      ? { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', ...sysRo] }
      : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', ...sysRo] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', ...sysRo] },
  ].filter((m) => !seen.has(m.destination) && !(devMounted && m.destination.startsWith('/dev/')));

  const extra: Mount[] = [];
  const etcRo = input.readOnly ? ['ro'] : [];
  const etc: [string, string | undefined][] = [
    ['/etc/hosts', input.etcFiles?.hosts],
    ['/etc/hostname', input.etcFiles?.hostname],
    ['/etc/resolv.conf', input.etcFiles?.resolvConf],
  ];
  for (const [destination, source] of etc) {
    if (source && !seen.has(destination)) extra.push({ destination, type: 'bind', source, options: ['rbind', 'rprivate', ...etcRo] });
  }
  if (input.init) extra.push({ destination: INIT_PATH, type: 'bind', source: input.init, options: ['bind', 'ro', 'rprivate'] });
  for (const m of userMounts) {
    if (m.type === 'bind') extra.push({ destination: m.target, type: 'bind', source: m.source, options: bindOptions(m) });
    else extra.push({ destination: m.target, type: 'tmpfs', source: 'tmpfs', options: tmpfsOptions(m) });
  }
  extra.sort((a, b) => depth(a.destination) - depth(b.destination));

  const mounts: Mount[] = [];
  if (input.rootfs.kind === 'overlay') mounts.push(overlayMount(input.rootfs, userns, host));
  mounts.push(...defaultMounts, ...extra);

  const namespaces: LinuxNamespace[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (!hostNetwork) namespaces.push({ type: 'network' });
  if (runtimeUserns) namespaces.push({ type: 'user' });
  if (host.cgroupNamespace) namespaces.push({ type: 'cgroup' });

  const linux: Linux = { namespaces };
  if (runtimeUserns) {
    linux.uidMappings = mapping.uidMap;
    linux.gidMappings = mapping.gidMap;
  }
  let resources: LinuxResources | undefined = input.resources ? { ...input.resources } : undefined;
  // Device rules need the devices cgroup: as root; rootless, runc bind-mounts the few nodes it makes.
  if (!userns) {
    resources ??= {};
    resources.devices = privileged ? [{ allow: true, access: 'rwm' }] : DEFAULT_DEVICE_RULES;
    if (privileged && host.devices) linux.devices = host.devices;
  }
  if (resources) linux.resources = resources;
  if (input.cgroupsPath) linux.cgroupsPath = input.cgroupsPath;

  if (!privileged) {
    const seccomp = security.seccomp;
    if (seccomp.kind === 'default') linux.seccomp = defaultSeccompProfile({ arch: host.arch, capabilities: caps });
    else if (seccomp.kind === 'profile') linux.seccomp = seccompFromProfile(seccomp.profile, { arch: host.arch, capabilities: caps, kernel: host.kernel }, seccomp.source);
    if (!security.unmaskSystemPaths) {
      linux.maskedPaths = MASKED_PATHS;
      linux.readonlyPaths = READONLY_PATHS;
    }
  }

  const labels = input.labels ?? {};
  return {
    ociVersion: OCI_VERSION,
    process: proc,
    root: { path: input.rootfs.path, readonly: input.readOnly ?? false },
    hostname,
    mounts,
    ...(Object.keys(labels).length ? { annotations: { ...labels } } : {}),
    linux,
  };
}
