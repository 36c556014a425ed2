import { mkdirSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { CtrError } from '../errors.js';
import { RuntimeClient, type OciRuntime } from '../runtime/oci.js';
import type { ContainerRecord } from '../store/containers.js';
import { LogWriter, type LogStream } from '../store/logs.js';
import type { Store } from '../store/store.js';
import { processStartTime } from './containers.js';

/** The standard streams a foreground container is wired to (the CLI's, or a test's). */
export interface ForegroundIO {
  stdin?: Readable;
  stdout: Writable;
  stderr: Writable;
}

// Every signal Node lets us catch that docker forwards (not SIGCHLD, SIGPIPE, SIGURG, SIGSTOP).
const FORWARDED: NodeJS.Signals[] = [
  'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGALRM', 'SIGCONT', 'SIGTSTP',
  'SIGTTIN', 'SIGTTOU', 'SIGVTALRM', 'SIGPROF', 'SIGXCPU', 'SIGXFSZ', 'SIGPWR', 'SIGSYS', 'SIGTRAP', 'SIGABRT', 'SIGWINCH',
];

export interface ForegroundResult {
  exitCode: number;
  /** Set when the runtime could not start the command: what it said. */
  startError?: string;
}

/**
 * Runs a created container in the foreground: ctr is its monitor. Writes the bundle, starts
 * `runc run`, records running/exited in the index, tees stdout/stderr to the terminal and the
 * container's log, forwards signals, and maps start failures to docker's 125/126/127.
 */
export async function runForeground(store: Store, runtime: OciRuntime, rec: ContainerRecord, spec: unknown, io: ForegroundIO): Promise<ForegroundResult> {
  const runDir = store.containerRunDir(rec.id);
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  mkdirSync(store.runtimeStateDir(), { recursive: true, mode: 0o700 });
  writeFileSync(join(runDir, 'config.json'), JSON.stringify(spec));
  const client = new RuntimeClient(runtime, store.runtimeStateDir());
  const log = new LogWriter(join(store.containers.path(rec.id), 'ctr.log'));
  const child = client.runForeground(rec.id, runDir, { stdio: [io.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  const startedAt = new Date().toISOString();
  const pid = child.pid;
  await store.updateContainers((containers) => {
    const c = containers.find((x) => x.id === rec.id);
    if (c && pid) c.state = { status: 'running', pid, pidStartTime: processStartTime(pid), startedAt };
  });

  const forward = (sig: NodeJS.Signals) => {
    if (child.exitCode === null) child.kill(sig);
  };
  for (const sig of FORWARDED) process.on(sig, forward);

  if (io.stdin && child.stdin) {
    child.stdin.on('error', () => {});
    io.stdin.pipe(child.stdin);
  }
  let startError: string | undefined;
  const failurePrefix = `${runtime.name} run failed: `;
  const tee = (from: Readable, to: Writable, stream: LogStream) =>
    new Promise<void>((resolve) => {
      from.on('data', (chunk: Buffer) => {
        // The runtime's own last word shares the container's stderr: keep it out of the output.
        if (stream === 'stderr' && chunk.toString('utf8', 0, failurePrefix.length) === failurePrefix) {
          startError = chunk.toString('utf8').slice(failurePrefix.length).trim();
          return;
        }
        log.write(stream, chunk);
        if (!to.write(chunk)) {
          from.pause();
          to.once('drain', () => from.resume());
        }
      });
      from.on('end', resolve);
      from.on('error', () => resolve());
    });
  const copied = Promise.all([tee(child.stdout!, io.stdout, 'stdout'), tee(child.stderr!, io.stderr, 'stderr')]);
  const status = await new Promise<number>((resolve, reject) => {
    child.on('error', (err) => reject(new CtrError(`cannot run ${runtime.path}: ${err.message}`)));
    child.on('exit', (code, signal) => resolve(code ?? 128 + signalNumber(signal)));
  });
  await copied;
  for (const sig of FORWARDED) process.off(sig, forward);
  io.stdin?.unpipe(child.stdin ?? undefined);
  log.close();

  const exitCode = startError ? startFailureCode(startError) : status;
  await store.updateContainers((containers) => {
    const c = containers.find((x) => x.id === rec.id);
    if (c) c.state = { status: 'exited', startedAt, finishedAt: new Date().toISOString(), exitCode, ...(startError ? { error: startError } : {}) };
  });
  await client.delete(rec.id, true).catch(() => {});
  return { exitCode, startError };
}

/** docker's codes: 127 the command was not found, 126 it could not be run, 125 anything else. */
export function startFailureCode(message: string): number {
  if (/executable file not found|no such file or directory/i.test(message)) return 127;
  if (/permission denied|exec format error|is a directory/i.test(message)) return 126;
  return 125;
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? (constants.signals[signal] ?? 0) : 0;
}
