import type { ChildProcess, StdioOptions } from 'node:child_process';
import { closeSync, constants, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { CtrError } from '../errors.js';
import { consoleNative } from '../native/console.js';
import { native } from '../native/index.js';
import { AttachServer } from '../runtime/attach-server.js';
import type { IdMapping } from '../runtime/idmap.js';
import { lastRuntimeError, RuntimeClient, runtimeExit, startFailureCode, waitForPidFile, withRuntimeCopy, type OciRuntime, type RuntimeCopy } from '../runtime/oci.js';
import { serializeSpec, type RuntimeSpec } from '../runtime/spec.js';
import { attachTerminal, createConsoleSocket, PtyWriter } from '../runtime/tty.js';
import { spawnInUserNamespace, type HeldUserNamespace, type UserNamespaceOptions } from '../runtime/userns.js';
import { startedChild, startProcess, type StartedProcess } from '../runtime/process.js';
import { writeFileAtomic } from '../store/atomic.js';
import type { ContainerRecord } from '../store/containers.js';
import { LogWriter, type LogStream } from '../store/logs.js';
import type { Store } from '../store/store.js';
import { processStartTime } from './containers.js';
import { copyOutput, pumpOutput } from '../runtime/output.js';
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

/** A foreground run begun by beginForeground, to be run by runForeground once its spec is made. */
export interface ForegroundStart {
  /** Ends what was begun, when the run will not happen (its spec could not be made). */
  abort(): Promise<void>;
}

/** The runtime started before its spec was known: it reads config.json, a FIFO, from `fifo`. */
interface EarlyRuntime {
  fifo: number;
  /** What the FIFO holds: a spec larger than this could not be written without a reader. */
  capacity: number;
  child: Promise<StartedProcess>;
  /** True once the runtime runs (its copy and namespace were both delivered). */
  readonly started: boolean;
}

interface Begun extends ForegroundStart {
  store: Store;
  runtime: OciRuntime;
  rec: ContainerRecord;
  io: ForegroundIO;
  opts: ForegroundOptions;
  runDir: string;
  stateDir: string;
  /** The runtime's global flags (log file, state directory). */
  global: string[];
  /** Rootless: the namespace, once made. */
  held?: HeldUserNamespace;
  early?: EarlyRuntime;
}

/**
 * Begins a foreground run of a created container, before its spec is made. Without a terminal
 * the runtime starts at once: `runc run` reads its config.json, made a FIFO here, only once its
 * own start-up is done (~8 ms), and runForeground writes the spec into it; the two overlap.
 */
export async function beginForeground(store: Store, runtime: OciRuntime, rec: ContainerRecord, io: ForegroundIO, opts: ForegroundOptions): Promise<ForegroundStart> {
  const runDir = store.containerRunDir(rec.id);
  const stateDir = store.runtimeStateDir();
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const global = ['--log', join(runDir, 'runtime.log'), '--log-format', 'json', '--root', stateDir];
  const begun: Begun = { store, runtime, rec, io, opts, runDir, stateDir, global, abort: () => abortEarly(begun) };
  if (!opts.tty) {
    begun.early = startEarly(begun);
    // One turn of the event loop: the namespace and the copy, made on other threads, are only
    // delivered then, and the runtime starts as soon as both are (before the spec is made).
    await new Promise((resolve) => setImmediate(resolve));
  }
  return begun;
}

/** `runc run`, waiting for its spec in a FIFO at config.json. */
function startEarly(b: Begun): EarlyRuntime {
  const config = join(b.runDir, 'config.json');
  rmSync(config, { force: true });
  native().mknod(config, constants.S_IFIFO | 0o600, 0, 0);
  // Read and write: this open waits for no reader, and the runtime's for no writer.
  const fifo = openSync(config, 'r+');
  let capacity = 64 << 10;
  try {
    capacity = native().setPipeSize(fifo, 1 << 20);
  } catch {
    // The system's limit is lower: the default capacity then.
  }
  let started = false;
  const child = (async () => {
    b.held = await b.opts.userns;
    const runtime = startPlain(b, await b.opts.runtimeCopy);
    started = true;
    return runtime;
  })();
  child.catch(() => {});
  return {
    fifo,
    capacity,
    child,
    get started() {
      return started;
    },
  };
}

async function abortEarly(b: Begun): Promise<void> {
  const early = b.early;
  if (!early) return;
  b.early = undefined;
  // Nothing else may find the FIFO: a reader of config.json would wait for ever.
  rmSync(join(b.runDir, 'config.json'), { force: true });
  const child = await early.child.catch(() => undefined);
  if (child) {
    child.kill('SIGKILL');
    for (const stream of [child.stdin, child.stdout, child.stderr]) stream?.destroy();
    await child.exited.catch(() => {});
  }
  closeSync(early.fifo);
}

/** Gives the runtime started early its spec (the FIFO holds all of it: this never blocks). */
async function feedEarly(early: EarlyRuntime, text: string): Promise<StartedProcess> {
  const data = Buffer.from(text);
  for (let off = 0; off < data.length; ) off += writeSync(early.fifo, data, off);
  return early.child;
}

/** The runtime's standard input for a run without a terminal: the user's, with -i. */
function plainStdin(opts: ForegroundOptions, io: ForegroundIO): Readable | undefined {
  return opts.interactive && io.stdin ? io.stdin : undefined;
}

/** Starts `runc run` for a run without a terminal, from the runtime's copy when there is one. */
function startPlain(b: Begun, made: RuntimeCopy | undefined): StartedProcess {
  const copy = usableCopy(b, made);
  const stdio: ('pipe' | 'ignore')[] = [plainStdin(b.opts, b.io) ? 'pipe' : 'ignore', 'pipe', 'pipe'];
  const argv = [copy?.path ?? b.runtime.path, ...b.global, 'run', '--bundle', b.runDir, b.rec.id];
  try {
    // From the addon where it can (no fork of ctr, no nsenter); 'single' mode needs unshare.
    return b.held || b.opts.mapping.mode === 'root'
      ? startProcess(argv, { stdio: copy ? withRuntimeCopy(stdio, copy) : stdio, usernsOf: b.held?.pid })
      : startedChild(launcher(b)(argv, copy ? withRuntimeCopy(stdio, copy) : stdio), b.runtime.path);
  } catch (err) {
    throw new CtrError(`cannot run ${b.runtime.path}: ${(err as Error).message}`);
  } finally {
    copy?.close();
  }
}

/** The copy, when the runtime may be started from it: it takes the child's fd 3, which only a namespace made by unshare needs otherwise. */
function usableCopy(b: Begun, copy: RuntimeCopy | undefined): RuntimeCopy | undefined {
  return copy?.open && copy.source === b.runtime.path && (b.held || b.opts.mapping.mode !== 'rootless') ? copy : undefined;
}

/** Starts a program as the runtime would be: in the held namespace (nsenter), else as spawnInUserNamespace does. */
function launcher(b: Begun): Launch {
  return (argv, stdio, env) =>
    b.held ? b.held.spawn(argv, { stdio, env }) : spawnInUserNamespace(b.opts.mapping, argv, { stdio: stdio as UserNamespaceOptions['stdio'], env: env ?? process.env });
}

/**
 * Runs a container begun by beginForeground in the foreground: ctr is its monitor. Writes the
 * bundle, starts the runtime unless it started already (rootless: inside ctr's user namespace, so
 * that supplementary groups work), records running/exited in the index, keeps the output in the
 * container's log, serves `ctr attach` as conmon does (attach socket, control fifo, exit file),
 * forwards signals, and maps start failures to docker's 125/126/127.
 */
export async function runForeground(start: ForegroundStart, spec: RuntimeSpec): Promise<ForegroundResult> {
  const b = start as Begun;
  const { store, runtime, rec, io, opts, runDir, stateDir, global } = b;
  // The copy or the namespace may have come in while the spec was made: one turn of the event
  // loop lets the runtime start now rather than after the attach socket and the log are ready.
  if (b.early && !b.early.started) await new Promise((resolve) => setImmediate(resolve));
  const text = serializeSpec(spec);
  // A spec the FIFO cannot hold could block this thread: the runtime then starts again, as usual.
  if (b.early && Buffer.byteLength(text) > b.early.capacity) await abortEarly(b);
  const launch = launcher(b);
  const paths = store.monitorPaths(rec.id);
  let attach: AttachServer;
  try {
    // A regular file for what reads it later (exec); a runtime started early gets the spec from
    // the FIFO (it opened that already) or from this file.
    writeFileAtomic(join(runDir, 'config.json'), text, 0o644, false);
    // What an earlier run under conmon left would tell attach and logs that this one ended.
    for (const f of [paths.exitFile, paths.oomFile]) rmSync(f, { force: true });
    // Listening before the container is recorded as running: whoever sees it running can attach.
    attach = AttachServer.open({ ...paths, bundle: runDir }, { terminal: opts.tty });
  } catch (err) {
    await abortEarly(b);
    throw err;
  }
  const startedAt = new Date().toISOString();
  const markRunning = (pid: number | undefined) =>
    store.updateContainers((containers) => {
      const c = containers.find((x) => x.id === rec.id);
      if (c && pid) c.state = { status: 'running', pid, pidStartTime: processStartTime(pid), startedAt };
    });

  let result: ForegroundResult;
  let copy: RuntimeCopy | undefined;
  // Until runPlain has it, a runtime started early is this function's to end when something fails.
  let adopted = false;
  try {
    const log = new LogWriter(join(store.containers.path(rec.id), 'ctr.log'));
    try {
      // As late as can be: the namespace was being made while the container was prepared.
      b.held = await opts.userns;
      const ctx: RunContext = { runtime, rec, runDir, global, launch, io, opts, log, attach, markRunning };
      if (opts.tty) {
        copy = usableCopy(b, await opts.runtimeCopy);
        result = await runWithTerminal({ ...ctx, copy }, store.socketDir());
      } else {
        const child = b.early ? await feedEarly(b.early, text) : startPlain(b, await opts.runtimeCopy);
        adopted = true;
        result = await runPlain(ctx, child);
      }
    } finally {
      copy?.close();
      if (!adopted) await abortEarly(b);
      else if (b.early) closeSync(b.early.fifo);
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
  io: ForegroundIO;
  opts: ForegroundOptions;
  log: LogWriter;
  /** `ctr attach` clients: the output goes to them too, their input to the container (-i). */
  attach: AttachServer;
  markRunning: (pid: number | undefined) => Promise<void>;
}

/** Without a terminal: `runc run` in the foreground, its stdio piped through ctr. */
async function runPlain({ runtime, io, opts, log, attach, markRunning }: RunContext, child: StartedProcess): Promise<ForegroundResult> {
  const stdin = plainStdin(opts, io);
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
  let logFailed = false;
  const holdBack = (stream: LogStream) => (chunk: Buffer) => {
    // The runtime's own last word shares the container's stderr: keep it out of the output.
    if (stream === 'stderr' && chunk.toString('utf8', 0, failurePrefix.length) === failurePrefix) {
      startError = chunk.toString('utf8').slice(failurePrefix.length).trim();
      return true;
    }
    try {
      log.write(stream, chunk);
    } catch (err) {
      // A full disk must not cut the container's output off its user: only the log misses it.
      if (!logFailed) io.stderr.write(`Warning: the container's output can no longer be kept for \`ctr logs\`: ${(err as Error).message}\n`);
      logFailed = true;
    }
    attach.output(stream, chunk);
    return false;
  };
  // Our own standard output and error are opened with the container's first output to them. When
  // our reader goes away (| head), the container's next write gets EPIPE, as it would directly.
  const tee = (i: 1 | 2, to: () => Writable, stream: LogStream) =>
    child.readOutput
      ? pumpOutput((onChunk) => child.readOutput!(i, onChunk), to, holdBack(stream))
      : copyOutput((i === 1 ? child.stdout : child.stderr)!, to(), holdBack(stream));
  const copied = Promise.all([tee(1, () => io.stdout, 'stdout'), tee(2, () => io.stderr, 'stderr')]);
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

