import { existsSync, readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { CtrError } from '../errors.js';
import { findExecutable, type IdMapping } from './idmap.js';
import { lastRuntimeError, type OciRuntime } from './oci.js';
import { spawnInUserNamespace, type HeldUserNamespace } from './userns.js';

/** conmon finds its sync pipe through _OCI_SYNCPIPE; spawnInUserNamespace hands extra pipes out from fd 4. */
const SYNC_FD = 4;

/** What conmon needs to know to run one container (every path comes from the store). */
export interface MonitorOptions {
  conmon: string;
  id: string;
  name: string;
  runtime: OciRuntime;
  /** The OCI bundle (config.json); conmon keeps its exit file, control fifo and attach socket there. */
  bundle: string;
  pidFile: string;
  conmonPidFile: string;
  /** The container's log, in the CRI format ctr's own log writer uses. */
  logPath: string;
  socketDir: string;
  runtimeStateDir: string;
  runtimeLog: string;
  terminal: boolean;
  stdin: boolean;
  /** What conmon runs after the container exited (absolute path first). */
  exitCommand: string[];
}

/** Debian's conmon (or podman's private copy). */
export function findConmon(): string {
  const path = findExecutable('conmon') ?? ['/usr/libexec/podman/conmon', '/usr/local/libexec/podman/conmon'].find((p) => existsSync(p));
  if (!path) throw new CtrError('conmon, the monitor of detached containers, was not found; install it (apt-get install conmon)');
  return path;
}

export function conmonArgv(o: MonitorOptions): string[] {
  const runtimeArgs = ['--root', o.runtimeStateDir, '--log', o.runtimeLog, '--log-format', 'json'];
  return [
    o.conmon,
    '--api-version', '1',
    '-c', o.id,
    '-u', o.id.slice(0, 12),
    '-r', o.runtime.path,
    '-b', o.bundle,
    '-p', o.pidFile,
    '-n', o.name,
    '-l', `k8s-file:${o.logPath}`,
    '--log-level', 'warning',
    '--syslog',
    '--socket-dir-path', o.socketDir,
    ...runtimeArgs.flatMap((a) => ['--runtime-arg', a]),
    '--conmon-pidfile', o.conmonPidFile,
    '--persist-dir', o.bundle,
    // The container index is not fsynced either: a power loss is reconciled (nothing runs after it).
    '--no-sync-log',
    // conmon closes a container's stdin when an attached client leaves unless told to keep it;
    // with a terminal the pty carries stdin and -i would close it the same way (podman passes only -t).
    ...(o.terminal ? ['-t'] : o.stdin ? ['-i', '--leave-stdin-open'] : []),
    '--exit-command', o.exitCommand[0]!,
    ...o.exitCommand.slice(1).flatMap((a) => ['--exit-command-arg', a]),
  ];
}

/** The runtime could not create the container; `message` is what it said. */
export class MonitorStartError extends Error {}

export interface StartedMonitor {
  /** conmon's long-lived process (it double-forks). */
  monitorPid: number;
  /** The container's init, created and waiting for `runtime start`. */
  pid: number;
}

/**
 * Starts conmon (rootless: in a new user namespace with the full mapping, which conmon then keeps
 * alive) and waits until it reports that `runtime create` succeeded, with the container's pid.
 */
export async function startMonitor(
  mapping: IdMapping,
  argv: string[],
  conmonPidFile: string,
  env: NodeJS.ProcessEnv = process.env,
  held?: HeldUserNamespace,
): Promise<StartedMonitor> {
  const childEnv: NodeJS.ProcessEnv = { ...env, _OCI_SYNCPIPE: String(SYNC_FD) };
  // A unit's notify socket is for ctr, not for conmon and the runtime.
  delete childEnv.NOTIFY_SOCKET;
  // Rootless: in a namespace made beforehand (conmon keeps it), else in one made now.
  const child = held
    ? Object.assign(held.spawn(argv, { stdio: ['ignore', 'ignore', 'pipe', 'ignore', 'pipe'], env: childEnv }), { ready: Promise.resolve() })
    : spawnInUserNamespace(mapping, argv, { stdio: ['ignore', 'ignore', 'pipe'], env: childEnv, extraPipes: 1 });
  const sync = child.stdio[SYNC_FD] as Readable;
  const stderr: Buffer[] = [];
  child.stderr!.on('data', (d: Buffer) => stderr.push(d));
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', (err) => reject(new CtrError(`cannot run ${argv[0]}: ${err.message}`)));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 0)));
  });
  exited.catch(() => {});
  const reply = new Promise<string>((resolve) => {
    let text = '';
    sync.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('\n')) resolve(text.slice(0, text.indexOf('\n')));
    });
    sync.on('end', () => resolve(text));
    sync.on('error', () => resolve(text));
  });
  try {
    await child.ready;
    const first = await Promise.race([reply, exited.then((code) => (code === 0 ? reply : Promise.resolve(`exit ${code}`)))]);
    if (first.startsWith('exit ')) {
      const said = Buffer.concat(stderr).toString().trim().split('\n').at(-1) ?? '';
      throw new CtrError(`conmon failed (${first.replace('exit', 'exit code')})${said ? `: ${said}` : ''}`);
    }
    let msg: { data?: number; message?: string };
    try {
      msg = JSON.parse(first) as { data?: number; message?: string };
    } catch {
      throw new CtrError(`conmon did not report the container's start (it said "${first.slice(0, 200)}")`);
    }
    if (typeof msg.data !== 'number' || msg.data <= 0) throw new MonitorStartError(runtimeFailure(msg.message ?? 'the runtime failed without a message'));
    // The first conmon process wrote the pid file of the one that stays before it exited.
    await exited;
    const monitorPid = Number(readFileSync(conmonPidFile, 'utf8').trim());
    if (!(monitorPid > 0)) throw new CtrError(`conmon wrote no pid to ${conmonPidFile}`);
    return { monitorPid, pid: msg.data };
  } finally {
    sync.destroy();
    child.stderr!.destroy();
    child.unref();
  }
}

/** The runtime's own words, without its "runc create failed:" preamble. */
function runtimeFailure(message: string): string {
  return lastRuntimeError(message).replace(/^.*? (create|start|run) failed: /, '').trim();
}
