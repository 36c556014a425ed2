import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, readFileSync, statfsSync } from 'node:fs';
import { constants } from 'node:os';
import { basename, isAbsolute } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { CtrError } from '../errors.js';
import { native } from '../native/index.js';
import { findExecutable } from './idmap.js';

const run = promisify(execFile);

export interface OciRuntime {
  name: string;
  path: string;
}

/** Hybrid cgroups: v1 controllers with an (empty) cgroup2 at /sys/fs/cgroup/unified. */
export function cgroupMode(): 'v2' | 'hybrid' | 'v1' {
  // Two statfs calls: reading /proc/self/mounts costs the kernel a line per mount (~0.3 ms a call here).
  cachedCgroupMode ??= isCgroup2('/sys/fs/cgroup') ? 'v2' : isCgroup2('/sys/fs/cgroup/unified') ? 'hybrid' : 'v1';
  return cachedCgroupMode;
}

let cachedCgroupMode: 'v2' | 'hybrid' | 'v1' | undefined;
const CGROUP2_SUPER_MAGIC = 0x63677270;

function isCgroup2(path: string): boolean {
  try {
    return statfsSync(path).type === CGROUP2_SUPER_MAGIC;
  } catch {
    return false;
  }
}

/**
 * The OCI runtime to use: --runtime NAME|PATH when given; else crun, then runc. crun refuses
 * to run at all on hybrid cgroups, so it is passed over there.
 */
export function findRuntime(wanted?: string): OciRuntime {
  if (wanted) {
    const path = isAbsolute(wanted) ? (existsSync(wanted) ? wanted : undefined) : findExecutable(wanted);
    if (!path) throw new CtrError(`the OCI runtime ${wanted} was not found; install it or give its full path with --runtime`);
    return { name: wanted.split('/').pop()!, path };
  }
  const names = cgroupMode() === 'hybrid' ? ['runc'] : ['crun', 'runc'];
  for (const name of names) {
    const path = findExecutable(name);
    if (path) return { name, path };
  }
  throw new CtrError('no OCI runtime found: install runc (or crun), e.g. apt-get install runc');
}

/**
 * A sealed in-memory copy of the runtime's executable, which a child started from it gets as
 * fd `fd` and executes as `path` (see src/native/sealed.c: runc and crun started from such a copy
 * do not copy themselves for the process that enters the container).
 */
export interface RuntimeCopy {
  /** The executable copied. */
  source: string;
  /** ctr's descriptor (close-on-exec), to hand to the child at CHILD_FD. */
  fd: number;
  /** What the child executes: its own descriptor of the copy. */
  path: string;
  /** Closes ctr's descriptor: once the child is spawned, or when it will not be. */
  close(): void;
  /** False once closed: a closed descriptor's number may already name another file. */
  readonly open: boolean;
}

const COPY_CHILD_FD = 3;

/** The runtimes known to start from a sealed copy without copying themselves again. */
const SELF_COPYING = new Set(['runc', 'crun']);

/**
 * Starts copying the runtime's executable (on a thread of the addon, meanwhile ctr goes on) when
 * it is runc or crun; the promise never rejects: undefined when no copy is made, and the runtime
 * then makes its own as always.
 */
export function copyRuntime(rt: OciRuntime): Promise<RuntimeCopy | undefined> {
  if (!SELF_COPYING.has(basename(rt.path))) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    try {
      native().sealedCopy(rt.path, rt.name, (err, fd) => {
        if (err || fd === undefined) return resolve(undefined);
        let open = true;
        resolve({
          source: rt.path,
          fd,
          path: `/proc/self/fd/${COPY_CHILD_FD}`,
          close: () => {
            if (open) closeSync(fd);
            open = false;
          },
          get open() {
            return open;
          },
        });
      });
    } catch {
      resolve(undefined);
    }
  });
}

/** The child's stdio with the copy at its fd (COPY_CHILD_FD, after stdin, stdout and stderr). */
export function withRuntimeCopy<T>(stdio: T[], copy: RuntimeCopy): (T | number)[] {
  if (stdio.length !== COPY_CHILD_FD) throw new Error(`the runtime's copy goes to fd ${COPY_CHILD_FD}, after exactly three standard streams`);
  return [...stdio, copy.fd];
}

export async function runtimeVersion(rt: OciRuntime): Promise<string> {
  try {
    const { stdout } = await run(rt.path, ['--version'], { timeout: 5000 });
    return stdout.split('\n')[0]!.replace(/^\S+ version /, '').trim();
  } catch {
    return 'unknown';
  }
}

/** Starts a runtime command; rootless, ctr starts it inside its user namespace. */
export type RuntimeLauncher = (argv: string[]) => ChildProcess;

/** One runtime state directory (runc --root) per store: containers of other stores stay apart. */
export class RuntimeClient {
  constructor(
    readonly runtime: OciRuntime,
    readonly stateDir: string,
    private readonly launcher: RuntimeLauncher = (argv) => spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }),
  ) {}

  private args(rest: string[]): string[] {
    return ['--root', this.stateDir, ...rest];
  }

  /** Lets a created container run its process. */
  async start(id: string): Promise<void> {
    await this.exec(['start', id]);
  }

  async kill(id: string, signal: string | number, all = false): Promise<void> {
    await this.exec(['kill', ...(all ? ['--all'] : []), id, String(signal)]);
  }

  async delete(id: string, force = false): Promise<void> {
    await this.exec(['delete', ...(force ? ['--force'] : []), id]).catch((err: unknown) => {
      // Already gone (it exited and was cleaned up, or the state dir is new after a reboot).
      if (!/does not exist|not found/i.test(String((err as Error).message))) throw err;
    });
  }

  async state(id: string): Promise<{ status: string; pid: number } | undefined> {
    try {
      const out = await this.exec(['state', id]);
      return JSON.parse(out) as { status: string; pid: number };
    } catch {
      return undefined;
    }
  }

  private exec(rest: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = this.launcher([this.runtime.path, ...this.args(rest)]);
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout?.on('data', (d: Buffer) => out.push(d));
      child.stderr?.on('data', (d: Buffer) => err.push(d));
      child.on('error', (e) => reject(new CtrError(`cannot run ${this.runtime.path}: ${e.message}`)));
      child.on('close', (code) => {
        if (code === 0) return resolve(Buffer.concat(out).toString());
        const stderr = Buffer.concat(err).toString().trim();
        reject(new CtrError(`${this.runtime.name} ${rest[0]} ${rest.at(-1) ?? ''}: ${lastRuntimeError(stderr) || `exit code ${code}`}`));
      });
    });
  }
}

/** The message of the last error runc/crun printed (they log `level=error msg="..."` lines). */
export function lastRuntimeError(stderr: string): string {
  const lines = stderr.trim().split('\n').filter(Boolean);
  const last = lines.at(-1) ?? '';
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(last);
  return m ? m[1]!.replace(/\\"/g, '"') : last;
}

/** The exit code of a runtime process, 128+N when signal N ended it; rejects when it could not be started. */
export function runtimeExit(child: ChildProcess, path: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    child.on('error', (err) => reject(new CtrError(`cannot run ${path}: ${err.message}`)));
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)));
  });
}

/**
 * The pid the runtime writes to a pid file once the process runs (at the end of create, or of
 * exec --detach). Gives up with `failure` when `gone()` says the runtime ended without it, or
 * after `timeoutMs`.
 */
export async function waitForPidFile(path: string, failure: string, opts: { gone?: () => boolean; timeoutMs?: number } = {}): Promise<number> {
  const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
  for (let wait = 1; ; wait = Math.min(wait * 2, 20)) {
    try {
      const pid = Number(readFileSync(path, 'utf8'));
      if (pid > 0) return pid;
    } catch {
      // not written yet
    }
    if (opts.gone?.() || Date.now() > deadline) throw new CtrError(failure);
    await sleep(wait);
  }
}

/** docker's codes: 127 the command was not found, 126 it could not be run, 125 anything else. */
export function startFailureCode(message: string): number {
  if (/executable file not found|no such file or directory/i.test(message)) return 127;
  if (/permission denied|exec format error|is a directory/i.test(message)) return 126;
  return 125;
}
