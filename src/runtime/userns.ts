import { execFile, spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import { closeSync, readFileSync, readlinkSync, readSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { CtrError } from '../errors.js';
import { native } from '../native/index.js';
import { findExecutable, type IdMapEntry, type IdMapping } from './idmap.js';

/** Environment variable telling a ctr child which fd carries the "maps are written" byte. */
export const GO_FD_ENV = 'CTR_USERNS_GO_FD';
const GO_FD = 3;

export interface UserNamespaceOptions {
  /** stdin, stdout, stderr (fd 3 is taken by the go pipe when one is needed); root and single mode also pass an fd 3 given as a number. */
  stdio?: ('pipe' | 'inherit' | 'ignore' | number)[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** argv is ctr itself, which waits for the go byte (awaitUserNamespaceGo) before touching files. */
  selfWaits?: boolean;
  /** Also unshare a private mount namespace (for overlay mounts). */
  mountNamespace?: boolean;
  /** Pipes the child gets as fds 4, 5... (fd 3 is the go pipe's, or unused); child.stdio[4...] are ctr's ends. */
  extraPipes?: number;
}

/** A child in a user namespace; `ready` settles once its id maps are written (or failed to be). */
export type NamespacedChild = ChildProcess & { ready: Promise<void> };

let keepCaps: boolean | undefined;

/**
 * Whether `unshare --keep-caps` gives an exec'd child its capabilities in the new namespace
 * (util-linux >= 2.38 raises them as ambient capabilities). Probed once per process.
 */
export function keepCapsWorks(): boolean {
  if (keepCaps !== undefined) return keepCaps;
  const probe = spawnSync('unshare', ['--user', '--keep-caps', '--', 'cat', '/proc/self/status'], { encoding: 'utf8', timeout: 5000 });
  keepCaps = probe.status === 0 && hasFileCapabilities(probe.stdout);
  return keepCaps;
}

const CAP_CHOWN = 0n;
const CAP_DAC_OVERRIDE = 1n;
const CAP_FOWNER = 3n;
const CAP_FSETID = 4n;
const CAP_MKNOD = 27n;
const CAP_SETFCAP = 31n;
const FILE_CAPS = [CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, CAP_MKNOD, CAP_SETFCAP];

/** True when /proc/PID/status text shows the effective capabilities unpacking needs. */
export function hasFileCapabilities(status: string): boolean {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  if (!m) return false;
  const eff = BigInt(`0x${m[1]}`);
  return FILE_CAPS.every((c) => (eff >> c) & 1n);
}

function mapArgs(pid: number, map: IdMapEntry[]): string[] {
  return [String(pid), ...mapTriples(map)];
}

/** A map as newuidmap/newgidmap take it after the pid: inner outer count ... */
function mapTriples(map: IdMapEntry[]): string[] {
  return map.flatMap((e) => [String(e.containerID), String(e.hostID), String(e.size)]);
}

function userNamespaceError(mapping: IdMapping, err: unknown): CtrError {
  return new CtrError(
    `cannot set up the user namespace for ${mapping.user ?? `uid ${mapping.uid}`}: ${err instanceof Error ? err.message : String(err)}; ` +
      'check its ranges in /etc/subuid and /etc/subgid and that newuidmap/newgidmap (package uidmap) are installed setuid',
  );
}

function run(file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 10_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${[file, ...args].join(' ')}: ${String(stderr).trim() || err.message}`));
      else resolve();
    });
  });
}

async function waitForOwnNamespace(child: ChildProcess): Promise<void> {
  const ours = readlinkSync('/proc/self/ns/user');
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error('the process exited before entering its user namespace');
    try {
      if (readlinkSync(`/proc/${child.pid}/ns/user`) !== ours) return;
    } catch {
      // not started yet, or already gone: the exit check above decides
    }
    if (Date.now() > deadline) throw new Error('the process did not enter a new user namespace within 10 seconds');
    await sleep(1);
  }
}

/**
 * Runs argv in a new user namespace with the mapping's id maps (podman's model: container 0 =
 * the user, 1..N = the /etc/subuid range). The child does no file-system work before its maps
 * are written: either it waits itself (selfWaits: ctr reads one byte from fd 3, see
 * awaitUserNamespaceGo) or a tiny shell waits and then execs argv, which gives full capabilities.
 * Root gets no namespace; 'single' mode uses unshare --map-root-user.
 */
export function spawnInUserNamespace(mapping: IdMapping, argv: string[], options: UserNamespaceOptions = {}): NamespacedChild {
  const stdio = options.stdio ?? ['pipe', 'pipe', 'pipe'];
  const base = { env: options.env ?? process.env, cwd: options.cwd };
  const mount = options.mountNamespace ? ['--mount', '--propagation', 'private'] : [];
  const extra: 'pipe'[] = Array.from({ length: options.extraPipes ?? 0 }, () => 'pipe');
  const plainStdio = extra.length ? [...stdio.slice(0, 3), 'ignore' as const, ...extra] : stdio;
  if (mapping.mode === 'root') {
    const child = options.mountNamespace
      ? spawn('unshare', [...mount, '--', ...argv], { ...base, stdio: plainStdio })
      : spawn(argv[0]!, argv.slice(1), { ...base, stdio: plainStdio });
    return Object.assign(child, { ready: Promise.resolve() });
  }
  if (mapping.mode === 'single') {
    const child = spawn('unshare', ['--map-root-user', ...mount, '--', ...argv], { ...base, stdio: plainStdio });
    return Object.assign(child, { ready: Promise.resolve() });
  }
  const direct = options.selfWaits === true && keepCapsWorks();
  const args = direct
    ? ['--user', '--keep-caps', ...mount, '--', ...argv]
    : ['--user', ...mount, '--', '/bin/sh', '-c', `read _ <&${GO_FD} || exit 125; exec ${GO_FD}<&-; exec "$@"`, 'sh', ...argv];
  const env = direct ? { ...base.env, [GO_FD_ENV]: String(GO_FD) } : base.env;
  const child = spawn('unshare', args, { ...base, env, stdio: [...stdio.slice(0, 3), 'pipe', ...extra] });
  const go = child.stdio[GO_FD] as NodeJS.WritableStream & { destroy(): void; on(e: 'error', f: () => void): void };
  go.on('error', () => {});
  const ready = (async () => {
    try {
      await waitForOwnNamespace(child);
      const newuidmap = findExecutable('newuidmap') ?? 'newuidmap';
      const newgidmap = findExecutable('newgidmap') ?? 'newgidmap';
      await Promise.all([run(newuidmap, mapArgs(child.pid!, mapping.uidMap)), run(newgidmap, mapArgs(child.pid!, mapping.gidMap))]);
    } catch (err) {
      child.kill('SIGKILL');
      go.destroy();
      throw userNamespaceError(mapping, err);
    }
    go.end('\n');
  })();
  ready.catch(() => {});
  return Object.assign(child, { ready });
}

/** A user namespace with the rootless id maps, kept by a waiting process until released. */
export interface HeldUserNamespace {
  /** The process that holds it: /proc/PID/ns/user is the namespace. */
  readonly pid: number;
  /** Spawns argv in it, as its root with every capability there (nsenter), like spawnInUserNamespace. */
  spawn(argv: string[], options: { stdio: StdioOptions; env?: NodeJS.ProcessEnv }): ChildProcess;
  /** Ends the waiting process; what was started in the namespace keeps it alive. */
  release(): void;
}

/**
 * Starts making a user namespace for the mapping (rootless mode only, else undefined), on a thread
 * of the addon: a caller starts it early, does its other work, and spawns into it when ready. It
 * saves what spawnInUserNamespace spends on `unshare`, a shell and polling (~15 ms a start).
 */
export function holdUserNamespace(mapping: IdMapping): Promise<HeldUserNamespace> | undefined {
  if (mapping.mode !== 'rootless') return undefined;
  const held = new Promise<HeldUserNamespace>((resolve, reject) => {
    const newuidmap = findExecutable('newuidmap');
    const newgidmap = findExecutable('newgidmap');
    if (!newuidmap || !newgidmap) throw userNamespaceError(mapping, new Error('newuidmap or newgidmap was not found'));
    native().usernsHold(newuidmap, mapTriples(mapping.uidMap), newgidmap, mapTriples(mapping.gidMap), (err, h) => {
      if (err || !h) return reject(userNamespaceError(mapping, err));
      const nsenter = findExecutable('nsenter') ?? 'nsenter';
      let open = true;
      resolve({
        pid: h.pid,
        spawn: (argv, options) => spawn(nsenter, ['-t', String(h.pid), '--user', '--preserve-credentials', '--', ...argv], { stdio: options.stdio, env: options.env ?? process.env }),
        release: () => {
          if (open) closeSync(h.fd);
          open = false;
        },
      });
    });
  });
  held.catch(() => {});
  return held;
}

/** Releases a held namespace once it is made; a failed one needs nothing. */
export function releaseUserNamespace(held: Promise<HeldUserNamespace> | undefined): void {
  held?.then((h) => h.release(), () => {});
}

/**
 * Runs fn with the namespace a caller began earlier (given), else with one begun now and released
 * when fn is done (undefined as root and in single-id mode).
 */
export async function withUserNamespace<T>(
  mapping: IdMapping,
  given: Promise<HeldUserNamespace> | undefined,
  fn: (userns: Promise<HeldUserNamespace> | undefined) => Promise<T>,
): Promise<T> {
  const own = given ? undefined : holdUserNamespace(mapping);
  try {
    return await fn(given ?? own);
  } finally {
    releaseUserNamespace(own);
  }
}

/**
 * The child's side: when started by spawnInUserNamespace with selfWaits, block until the parent
 * has written the id maps, then check that the capabilities to own files arrived with them.
 */
export function awaitUserNamespaceGo(): void {
  const fdText = process.env[GO_FD_ENV];
  if (!fdText) return;
  delete process.env[GO_FD_ENV];
  const fd = Number(fdText);
  const buf = Buffer.alloc(1);
  let n = 0;
  for (;;) {
    try {
      n = readSync(fd, buf, 0, 1, null);
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== 'EAGAIN') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
    }
  }
  closeSync(fd);
  if (n !== 1) throw new CtrError('the user namespace was not set up (the parent gave up before writing the id maps)');
  const status = readFileSync('/proc/self/status', 'utf8');
  if (!hasFileCapabilities(status)) {
    throw new CtrError(`ctr has no capabilities inside its user namespace (${/^CapEff:.*$/m.exec(status)?.[0] ?? 'CapEff unknown'}); unshare --keep-caps did not work here`);
  }
}
