import type { ChildProcess, StdioOptions } from 'node:child_process';
import { closeSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { CtrError } from '../errors.js';
import { consoleNative } from '../native/console.js';
import { AttachServer } from '../runtime/attach-server.js';
import type { IdMapping } from '../runtime/idmap.js';
import { lastRuntimeError, RuntimeClient, runtimeExit, startFailureCode, waitForPidFile, withRuntimeCopy, type OciRuntime, type RuntimeCopy } from '../runtime/oci.js';
import { serializeSpec, type RuntimeSpec } from '../runtime/spec.js';
import { attachTerminal, createConsoleSocket, PtyWriter } from '../runtime/tty.js';
import { spawnInUserNamespace, type HeldUserNamespace, type UserNamespaceOptions } from '../runtime/userns.js';
import { startedChild, startProcess, type ProcessStdio, type StartedProcess } from '../runtime/process.js';
import { writeFileAtomic } from '../store/atomic.js';
import type { ContainerRecord } from '../store/containers.js';
import { LogWriter, type LogStream } from '../store/logs.js';
import type { Store } from '../store/store.js';
import { processStartTime } from './containers.js';
import { copyOutput } from '../runtime/output.js';
import { connectChild, FORWARDED_SIGNALS, forwardSignals } from '../runtime/signals.js';

/** The standard streams a foreground container is wired to (the CLI's, or a test's). */
export interface ForegroundIO {
  stdin?: Readable;
  stdout: Writable;
  stderr: Writable;
}

// Window changes too, as docker's sig-proxy does; with a terminal ctr resizes the pty instead.
const FORWARDED: NodeJS.Signals[] = [...FORWARDED_SIGNALS, 'SIGWINCH'];

// After a terminal container exits, the rest of its output must arrive within this time.
const OUTPUT_GRACE_MS = 5000;

export interface ForegroundResult {
  exitCode: number;
  /** Set when the runtime could not start the command: what it said. */
  startError?: string;
}

export interface ForegroundOptions {
  mapping: IdMapping;
  /** Rootless: the user namespace the runtime starts in, made meanwhile (see holdUserNamespace). */
  userns?: Promise<HeldUserNamespace>;
  /** A sealed copy of the runtime's executable, made meanwhile (see copyRuntime); closed here. */
  runtimeCopy?: Promise<RuntimeCopy | undefined>;
  tty: boolean;
  interactive: boolean;
}

/**
 * Runs a created container in the foreground: ctr is its monitor. Writes the bundle, starts the
 * runtime (rootless: inside ctr's user namespace, so that supplementary groups work), records
 * running/exited in the index, keeps the output in the container's log, serves `ctr attach` as
 * conmon does (attach socket, control fifo, exit file), forwards signals, and maps start failures
 * to docker's 125/126/127.
 */
export async function runForeground(
  store: Store,
  runtime: OciRuntime,
  rec: ContainerRecord,
  spec: RuntimeSpec,
  io: ForegroundIO,
  opts: ForegroundOptions,
): Promise<ForegroundResult> {
  const runDir = store.containerRunDir(rec.id);
  const stateDir = store.runtimeStateDir();
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  writeFileSync(join(runDir, 'config.json'), serializeSpec(spec));
  const global = ['--log', join(runDir, 'runtime.log'), '--log-format', 'json', '--root', stateDir];
  let held: HeldUserNamespace | undefined;
  const launch = (argv: string[], stdio: StdioOptions, env?: NodeJS.ProcessEnv): ChildProcess =>
    held ? held.spawn(argv, { stdio, env }) : spawnInUserNamespace(opts.mapping, argv, { stdio: stdio as UserNamespaceOptions['stdio'], env: env ?? process.env });
  // From the addon where it can (no fork of ctr, no nsenter); 'single' mode needs unshare.
  const start = (argv: string[], stdio: ProcessStdio[]): StartedProcess =>
    held || opts.mapping.mode === 'root' ? startProcess(argv, { stdio, usernsOf: held?.pid }) : startedChild(launch(argv, stdio), runtime.path);
  const paths = store.monitorPaths(rec.id);
  // What an earlier run under conmon left would tell attach and logs that this one ended.
  for (const f of [paths.exitFile, paths.oomFile]) rmSync(f, { force: true });
  // Listening before the container is recorded as running: whoever sees it running can attach.
  const attach = AttachServer.open({ ...paths, bundle: runDir }, { terminal: opts.tty });
  const startedAt = new Date().toISOString();
  const markRunning = (pid: number | undefined) =>
    store.updateContainers((containers) => {
      const c = containers.find((x) => x.id === rec.id);
      if (c && pid) c.state = { status: 'running', pid, pidStartTime: processStartTime(pid), startedAt };
    });

  let result: ForegroundResult;
  let copy: RuntimeCopy | undefined;
  try {
    const log = new LogWriter(join(store.containers.path(rec.id), 'ctr.log'));
    try {
      // As late as can be: the namespace was being made while the container was prepared.
      held = await opts.userns;
      copy = await opts.runtimeCopy;
      // The copy takes the child's fd 3, which only a namespace made by unshare needs otherwise.
      const usable = copy?.source === runtime.path && (held || opts.mapping.mode !== 'rootless');
      const ctx: RunContext = { runtime, copy: usable ? copy : undefined, rec, runDir, global, launch, start, io, opts, log, attach, markRunning };
      result = opts.tty ? await runWithTerminal(ctx, store.socketDir()) : await runPlain(ctx);
    } finally {
      copy?.close();
      log.close();
    }
    try {
      // Attached clients read the exit code from the exit file once their socket ends, as with conmon.
      writeFileAtomic(paths.exitFile, `${result.exitCode}`, 0o600, false);
    } catch {
      // `rm -f` removed the container and its run directory: nobody is left to read it.
    }
    await store.updateContainers((containers) => {
      const c = containers.find((x) => x.id === rec.id);
      if (c) c.state = { status: 'exited', startedAt, finishedAt: new Date().toISOString(), exitCode: result.exitCode, ...(result.startError ? { error: result.startError } : {}) };
    });
  } finally {
    // Before run's --rm removes the exit file: clients hang up first (or a grace time passes).
    await attach.close();
  }
  // `run` deletes its container itself on exit; `create` + `start` (the terminal path) does not.
  if (opts.tty) await new RuntimeClient(runtime, stateDir, (argv) => launch(argv, ['ignore', 'pipe', 'pipe'])).delete(rec.id, true).catch(() => {});
  return result;
}

type Launch = (argv: string[], stdio: StdioOptions, env?: NodeJS.ProcessEnv) => ChildProcess;

/** What both ways of running a container in the foreground share. */
interface RunContext {
  runtime: OciRuntime;
  /** When set, the runtime is started from this copy of its executable (and the copy then closed). */
  copy?: RuntimeCopy;
  rec: ContainerRecord;
  runDir: string;
  /** The runtime's global flags (log file, state directory). */
  global: string[];
  launch: Launch;
  /** Starts the runtime for `run`: stdin, stdout, stderr and the copy's fd. */
  start: (argv: string[], stdio: ProcessStdio[]) => StartedProcess;
  io: ForegroundIO;
  opts: ForegroundOptions;
  log: LogWriter;
  /** `ctr attach` clients: the output goes to them too, their input to the container (-i). */
  attach: AttachServer;
  markRunning: (pid: number | undefined) => Promise<void>;
}

/** Without a terminal: `runc run` in the foreground, its stdio piped through ctr. */
async function runPlain({ runtime, copy, rec, runDir, global, start, io, opts, log, attach, markRunning }: RunContext): Promise<ForegroundResult> {
  const stdin = opts.interactive && io.stdin ? io.stdin : undefined;
  const stdio: ('pipe' | 'ignore')[] = [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'];
  let child: StartedProcess;
  try {
    child = start([copy?.path ?? runtime.path, ...global, 'run', '--bundle', runDir, rec.id], copy ? withRuntimeCopy(stdio, copy) : stdio);
  } catch (err) {
    throw new CtrError(`cannot run ${runtime.path}: ${(err as Error).message}`);
  } finally {
    copy?.close();
  }
  const containerIn = stdin ? child.stdin : null;
  if (containerIn) {
    // Once the user's input ended, the container's has too: later input from attach clients is dropped.
    attach.setInput((data) => {
      if (containerIn.writable && !containerIn.write(data)) attach.pauseInput();
    });
    containerIn.on('drain', () => attach.resumeInput());
  }
  await markRunning(child.pid);
  const disconnect = connectChild(child, stdin, FORWARDED);
  let startError: string | undefined;
  const failurePrefix = `${runtime.name} run failed: `;
  // When our reader goes away (| head), the container's next write gets EPIPE, as it would directly.
  const tee = (from: Readable, to: Writable, stream: LogStream) =>
    copyOutput(from, to, (chunk) => {
      // The runtime's own last word shares the container's stderr: keep it out of the output.
      if (stream === 'stderr' && chunk.toString('utf8', 0, failurePrefix.length) === failurePrefix) {
        startError = chunk.toString('utf8').slice(failurePrefix.length).trim();
        return true;
      }
      log.write(stream, chunk);
      attach.output(stream, chunk);
      return false;
    });
  const copied = Promise.all([tee(child.stdout!, io.stdout, 'stdout'), tee(child.stderr!, io.stderr, 'stderr')]);
  let status: number;
  try {
    status = await child.exited;
    await copied;
  } finally {
    disconnect();
    attach.setInput(undefined);
  }
  if (startError) return { exitCode: startFailureCode(startError), startError };
  return { exitCode: status };
}

/**
 * With -t: the runtime hands over the pty master only when it does not stay in the foreground,
 * so ctr runs `create` with a console socket, adopts the container's init as a subreaper (as
 * conmon does), attaches the user's terminal, then lets the container `start`.
 */
async function runWithTerminal({ runtime, copy, rec, runDir, global, launch, io, opts, log, attach, markRunning }: RunContext, socketDir: string): Promise<ForegroundResult> {
  const native = consoleNative();
  native.setChildSubreaper();
  const socket = await createConsoleSocket(socketDir);
  const pidFile = join(runDir, 'init.pid');
  // One helper in one user namespace: create, wait for ctr's go, then start.
  // "created" tells ctr that create has exited, so the container's init is now ctr's child.
  const script = 'set -e; "$CTR_RT" "$@" create --bundle "$CTR_B" --console-socket "$CTR_S" --pid-file "$CTR_P" "$CTR_ID"; echo created; read _; exec "$CTR_RT" "$@" start "$CTR_ID"';
  const stdio: 'pipe'[] = ['pipe', 'pipe', 'pipe'];
  const helper = launch(['/bin/sh', '-c', script, 'sh', ...global], copy ? withRuntimeCopy(stdio, copy) : stdio, {
    ...process.env,
    CTR_RT: copy?.path ?? runtime.path,
    CTR_B: runDir,
    CTR_S: socket.path,
    CTR_P: pidFile,
    CTR_ID: rec.id,
  });
  copy?.close();
  const helperErr: Buffer[] = [];
  helper.stderr!.on('data', (d: Buffer) => helperErr.push(d));
  helper.stdin!.on('error', () => {});
  const helperExit = runtimeExit(helper, runtime.path);
  const createdSignal = new Promise<void>((resolve, reject) => {
    let out = '';
    helper.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('created\n')) resolve();
    });
    helper.on('exit', () => reject(new CtrError(`${runtime.name} create failed: ${lastRuntimeError(Buffer.concat(helperErr).toString()) || 'no message'}`)));
  });
  createdSignal.catch(() => {});
  let master: number;
  try {
    master = await Promise.race([
      socket.master,
      helperExit.then((code) => {
        throw new CtrError(`${runtime.name} create failed (exit ${code}): ${lastRuntimeError(Buffer.concat(helperErr).toString()) || 'no message'}`);
      }),
    ]);
  } catch (err) {
    socket.close();
    const message = lastRuntimeError(Buffer.concat(helperErr).toString()).replace(/^.*? (create|start) failed: /, '');
    if (message) return { exitCode: startFailureCode(message), startError: message };
    throw err;
  }
  socket.close();
  try {
    await createdSignal;
  } catch (err) {
    closeSync(master);
    throw err;
  }
  const attachment = attachTerminal(master, {
    stdin: opts.interactive ? (io.stdin ?? null) : null,
    stdout: io.stdout,
    rawInput: opts.interactive,
    onOutput: (chunk) => {
      log.write('stdout', chunk);
      attach.output('stdout', chunk);
    },
  });
  // Attach clients type into the same terminal (-i) and set its size, as conmon lets them.
  const clientInput = opts.interactive ? new PtyWriter(master, (blocked) => (blocked ? attach.pauseInput() : attach.resumeInput())) : undefined;
  if (clientInput) attach.setInput((data) => clientInput.write(data));
  attach.setResize((rows, cols) => {
    try {
      native.setWindowSize(master, rows, cols);
    } catch {
      // The container's side is gone: its exit ends the run.
    }
  });
  // The runtime writes the pid file at the end of create, after it has sent the terminal.
  const pid = await waitForPidFile(pidFile, 'the runtime stopped before it wrote the container’s pid file', { gone: () => helper.exitCode !== null });
  const exited = new Promise<number>((resolve, reject) =>
    native.waitPid(pid, (err, st) => (err ? reject(err) : resolve(st!.code ?? 128 + (st!.signal ?? 0)))),
  );
  await markRunning(pid);
  const stopForwarding = forwardSignals((sig) => {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  });
  try {
    helper.stdin!.end('\n');
    const started = await helperExit;
    if (started !== 0) {
      attachment.detach();
      const message = lastRuntimeError(Buffer.concat(helperErr).toString()).replace(/^.*? start failed: /, '');
      return { exitCode: startFailureCode(message), startError: message || `${runtime.name} start failed` };
    }
    const code = await exited;
    const grace = setTimeout(() => attachment.detach(), OUTPUT_GRACE_MS);
    await attachment.done;
    clearTimeout(grace);
    return { exitCode: code };
  } finally {
    stopForwarding();
    attachment.restore();
    attach.setInput(undefined);
    attach.setResize(undefined);
    clientInput?.close();
    closeSync(master);
  }
}

