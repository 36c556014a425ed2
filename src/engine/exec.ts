import { spawn } from 'node:child_process';
import { closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { randomHex } from '../random.js';
import { CtrError } from '../errors.js';
import type { ImageConfig } from '../image/types.js';
import { consoleNative } from '../native/console.js';
import { readBoundingSet, readLastCap, resolveCapabilities } from '../runtime/capabilities.js';
import { buildEnv, expandEnvFlags, parseEnvFile, type LinuxCapabilities, type Process, type RuntimeSpec } from '../runtime/spec.js';
import { attachTerminal, createConsoleSocket, userTerminalSize, type ConsoleSocket } from '../runtime/tty.js';
import { readUserFiles, resolveUser } from '../runtime/user.js';
import { DEFAULT_DETACH_KEYS, DetachKeyFilter, parseDetachKeys } from './attach.js';
import { openEngine, type Engine, type EngineOptions } from './context.js';
import { readEnvFile } from './create.js';
import { findRunning, type RunningContainer } from './running.js';
import { copyOutput } from '../runtime/output.js';
import { connectChild, forwardSignals } from '../runtime/signals.js';
import { runtimeExit, startFailureCode, waitForPidFile } from '../runtime/oci.js';

const NO_PID_FILE = 'the runtime started the command but wrote no pid file for it';

/** `ctr exec`'s options, as docker names them. */
export interface ExecOptions extends EngineOptions {
  container: string;
  /** The command and its arguments. */
  command: string[];
  interactive?: boolean;
  tty?: boolean;
  /** Start the command and return at once (its output goes nowhere, as with docker); with tty it still gets a terminal. */
  detach?: boolean;
  /** -it: the keys that leave the command running and return (docker's format; undefined = ctrl-p,ctrl-q; '' = none). */
  detachKeys?: string;
  /** USER[:GROUP]; default: the container's user. */
  user?: string;
  workdir?: string;
  env?: string[];
  envFile?: string[];
  privileged?: boolean;
  /** The global --runtime, for containers created without one. */
  runtime?: string;
}

export interface ExecIO {
  stdin?: Readable;
  stdout: Writable;
  stderr: Writable;
}

export interface ExecResult {
  /** The command's exit code (128+N when signal N ended it), or 125/126/127 when it could not start. */
  exitCode: number;
  /** What the runtime said when the command could not be started. */
  startError?: string;
  /**
   * The user typed the detach keys: the command goes on with its terminal held for it, while this
   * process still waits for it (on a worker thread); the caller ends the process once it has reported.
   */
  detached?: boolean;
}

// After a terminal command exits, the rest of its output must arrive within this time.
const OUTPUT_GRACE_MS = 5000;
// The terminal size of a command started with -d -t: no user terminal gives one.
const DETACHED_TERMINAL_SIZE = { rows: 24, cols: 80 };
/**
 * Holds the terminal of a command nobody is attached to (-d -t, or after the detach keys): reads
 * and drops its output so that it never blocks on a full terminal, until the command (its pid, $2) has
 * ended. After an attachment the terminal is non-blocking, so cat returns at once: a short nap.
 */
const HOLD_TERMINAL = 'while [ -e "/proc/$2" ]; do cat >/dev/null 2>&1; sleep 0.2; done';

/**
 * Runs a command in a running container with `runc exec`, inside the container's user namespace
 * (rootless), with the container's environment, user, capabilities and limits, and the exec's
 * own -e/-u/-w on top. Returns the command's exit code; with `detach`, 0 once it started.
 */
export async function execInContainer(opts: ExecOptions, io: ExecIO): Promise<ExecResult> {
  if (opts.command.length === 0) throw new CtrError('ctr exec needs a command to run: ctr exec CONTAINER COMMAND [ARG...]');
  const engine = openEngine(opts);
  const target = await findRunning(engine, opts.container, { globalRuntime: opts.runtime });
  const { store } = engine;
  const tty = opts.tty ?? false;
  // A wrong key is the user's typo: said before anything runs.
  const keys = parseDetachKeys(opts.detachKeys ?? DEFAULT_DETACH_KEYS);
  const detachKeys = tty && opts.interactive && !opts.detach ? keys : undefined;
  const size = !tty ? undefined : opts.detach ? DETACHED_TERMINAL_SIZE : userTerminalSize(io.stdout, opts.interactive ? (io.stdin ?? null) : null);
  const proc = execProcess(engine, target, opts, tty, size);

  const runDir = store.containerRunDir(target.rec.id);
  const name = `exec-${randomHex(6)}`;
  const files = { process: join(runDir, `${name}.json`), log: join(runDir, `${name}.log`), pid: join(runDir, `${name}.pid`) };
  writeFileSync(files.process, JSON.stringify(proc), { mode: 0o600 });
  const global = ['--root', store.runtimeStateDir(), '--log', files.log, '--log-format', 'json'];
  const ctx: ExecContext = { target, id: target.rec.id, global, files, io, interactive: opts.interactive ?? false, socketDir: store.socketDir(), detachKeys };
  try {
    if (opts.detach && tty) return await execDetachedTerminal(ctx);
    if (opts.detach) return await execDetached(ctx);
    if (tty) return await execWithTerminal(ctx);
    return await execPlain(ctx);
  } finally {
    for (const f of Object.values(files)) rmSync(f, { force: true });
  }
}

/**
 * The OCI process of an exec: the running container's own settings (from its bundle's
 * config.json: capabilities, limits, security), its environment with the exec's -e and
 * --env-file on top, and its user unless -u names another, resolved in its root file system.
 */
function execProcess(engine: Engine, target: RunningContainer, opts: ExecOptions, tty: boolean, size: { rows: number; cols: number } | undefined): Process {
  const { store } = engine;
  const { rec, cfg } = target;
  let spec: RuntimeSpec;
  try {
    spec = JSON.parse(readFileSync(join(store.containerRunDir(rec.id), 'config.json'), 'utf8')) as RuntimeSpec;
  } catch (err) {
    throw new CtrError(`cannot read the runtime configuration of container ${rec.name}: ${(err as Error).message}; restart the container`);
  }
  const image = store.blobs.getJson<ImageConfig>(rec.image);
  const layers = [join(store.containers.path(rec.id), 'upper'), ...[...image.rootfs.diff_ids].reverse().map((d) => store.layers.diffPath(d))];
  const user = resolveUser(opts.user ?? cfg.user ?? image.config?.User ?? undefined, readUserFiles(layers), cfg.groupAdd);

  const execEnv = [
    ...(opts.envFile ?? []).flatMap((f) => parseEnvFile(readEnvFile(f), (n) => process.env[n], f)),
    ...expandEnvFlags(opts.env ?? [], (n) => process.env[n]),
  ];
  const hostname = spec.hostname ?? rec.id.slice(0, 12);
  const env = buildEnv({ image: image.config?.Env ?? undefined, user: [...cfg.env, ...execEnv], hostname, tty, home: user.home });

  const cwd = opts.workdir ?? spec.process.cwd;
  if (!cwd.startsWith('/')) throw new CtrError(`the working directory '${cwd}' is invalid: it needs to be an absolute path`);

  const bounding = opts.privileged
    ? resolveCapabilities({ privileged: true, lastCap: readLastCap(), bounding: engine.mapping.mode === 'root' ? readBoundingSet() : undefined })
    : (spec.process.capabilities?.bounding ?? []);
  // As docker: a non-root user gets the set only as its bounding set, as execve would give it.
  const capabilities: LinuxCapabilities = user.uid === 0 ? { bounding, effective: bounding, permitted: bounding } : { bounding };
  return {
    terminal: tty,
    ...(tty && size ? { consoleSize: { height: size.rows, width: size.cols } } : {}),
    user: { uid: user.uid, gid: user.gid, ...(user.additionalGids.length ? { additionalGids: user.additionalGids } : {}) },
    args: opts.command,
    env,
    cwd: posix.normalize(cwd),
    capabilities,
    ...(spec.process.rlimits ? { rlimits: spec.process.rlimits } : {}),
    noNewPrivileges: spec.process.noNewPrivileges ?? false,
    ...(spec.process.apparmorProfile && !opts.privileged ? { apparmorProfile: spec.process.apparmorProfile } : {}),
  };
}

interface ExecContext {
  target: RunningContainer;
  id: string;
  /** The runtime's global flags: its state directory and a log file of its own. */
  global: string[];
  files: { process: string; log: string; pid: string };
  io: ExecIO;
  interactive: boolean;
  socketDir: string;
  /** -it: the detach sequence (empty: none). */
  detachKeys?: Buffer;
}

/** The error the runtime logged, when it failed to start the command (its log is JSON lines). */
function runtimeError(logFile: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return undefined;
  }
  let message: string | undefined;
  for (const line of text.split('\n')) {
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if (entry.level === 'error' || entry.level === 'fatal') message = entry.msg;
    } catch {
      // a partial or foreign line
    }
  }
  return message?.replace(/^exec failed: /, '');
}

function startFailure(ctx: ExecContext, code: number): ExecResult {
  const message = runtimeError(ctx.files.log) ?? `${ctx.target.runtime.name} exec failed with exit code ${code}`;
  return { exitCode: startFailureCode(message), startError: message };
}

/** `exec -d`: the runtime starts the command with no standard streams and returns. */
async function execDetached(ctx: ExecContext): Promise<ExecResult> {
  const { target } = ctx;
  const child = target.spawn([target.runtime.path, ...ctx.global, 'exec', '--detach', '--process', ctx.files.process, ctx.id], ['ignore', 'ignore', 'ignore']);
  const code = await runtimeExit(child, target.runtime.path);
  return code === 0 ? { exitCode: 0 } : startFailure(ctx, code);
}

/**
 * `exec -d -t`: the command gets a terminal of its own, held by a small shell that drops its
 * output (docker keeps no output of a detached exec either) until the command ends.
 */
async function execDetachedTerminal(ctx: ExecContext): Promise<ExecResult> {
  const received = await startOnTerminal(ctx);
  if (received.failed !== undefined) return startFailure(ctx, received.failed);
  try {
    holdTerminal(received.master, ctx.id, await waitForPidFile(ctx.files.pid, NO_PID_FILE, { timeoutMs: 2000 }));
  } finally {
    closeSync(received.master);
  }
  return { exitCode: 0 };
}

/** Starts the command on a terminal of its own (`exec --detach` with a console socket): its pty master, or the runtime's exit code. */
async function startOnTerminal(ctx: ExecContext): Promise<{ master: number; failed?: undefined } | { failed: number }> {
  const { target } = ctx;
  const socket = await createConsoleSocket(ctx.socketDir);
  const argv = [target.runtime.path, ...ctx.global, 'exec', '--detach', '--console-socket', socket.path, '--pid-file', ctx.files.pid, '--process', ctx.files.process, ctx.id];
  const child = target.spawn(argv, ['ignore', 'ignore', 'pipe']);
  child.stderr!.resume();
  return receiveTerminal(socket, runtimeExit(child, target.runtime.path));
}

/** Hands a terminal whose command runs on to a process of its own, which ends with the command. */
function holdTerminal(master: number, containerId: string, pid: number): void {
  const holder = spawn('/bin/sh', ['-c', HOLD_TERMINAL, 'ctr-exec-terminal', containerId, String(pid)], {
    stdio: [master, 'ignore', 'ignore'],
    detached: true,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
  });
  holder.on('error', () => {});
  holder.unref();
}

/**
 * The pty master the runtime sends once it has started the command (`exec --detach
 * --console-socket`); `failed` is the runtime's exit code when it could not start it.
 */
async function receiveTerminal(socket: ConsoleSocket, started: Promise<number>): Promise<{ master: number; failed?: undefined } | { failed: number }> {
  let master: number;
  try {
    master = await Promise.race([
      socket.master,
      started.then((code) => {
        if (code !== 0) return -code;
        // Started: the terminal was sent before the runtime exited.
        return socket.master;
      }),
    ]);
  } finally {
    socket.close();
  }
  if (master < 0) return { failed: -master };
  let code: number;
  try {
    code = await started;
  } catch (err) {
    closeSync(master);
    throw err;
  }
  if (code !== 0) {
    closeSync(master);
    return { failed: code };
  }
  return { master };
}

/**
 * Without a terminal: `runc exec` in the foreground, whose standard streams the command
 * inherits; runc passes on the signals ctr forwards and exits with the command's code.
 */
async function execPlain(ctx: ExecContext): Promise<ExecResult> {
  const { target, io } = ctx;
  const stdin = ctx.interactive ? io.stdin : undefined;
  const child = target.spawn([target.runtime.path, ...ctx.global, 'exec', '--process', ctx.files.process, ctx.id], [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe']);
  const exited = runtimeExit(child, target.runtime.path);
  const disconnect = connectChild(child, stdin);
  // runc's own last word ("exec failed: ...") shares the command's stderr: held back until the
  // exit tells whether the command ever ran.
  const held: Buffer[] = [];
  const copied = Promise.all([
    copyOutput(child.stdout!, io.stdout),
    copyOutput(child.stderr!, io.stderr, (chunk) => {
      if (held.length === 0 && !chunk.toString('utf8', 0, 13).startsWith('exec failed: ')) return false;
      held.push(chunk);
      return true;
    }),
  ]);
  try {
    const code = await exited;
    await copied;
    if (code === 255 && runtimeError(ctx.files.log) !== undefined) return startFailure(ctx, code);
    for (const chunk of held) io.stderr.write(chunk);
    return { exitCode: code };
  } finally {
    disconnect();
    stdin?.pause();
  }
}

/**
 * With -t: the runtime hands over the pty master only when it does not stay in the
 * foreground, so ctr runs `exec --detach` with a console socket, adopts the command as a
 * subreaper (as the foreground -t run does) and attaches the user's terminal to it.
 */
async function execWithTerminal(ctx: ExecContext): Promise<ExecResult> {
  const { target, io } = ctx;
  const native = consoleNative();
  native.setChildSubreaper();
  const received = await startOnTerminal(ctx);
  if (received.failed !== undefined) return startFailure(ctx, received.failed);
  const { master } = received;
  const keys = ctx.detachKeys && ctx.detachKeys.length > 0 ? new DetachKeyFilter(ctx.detachKeys) : undefined;
  const attachment = attachTerminal(master, {
    stdin: ctx.interactive ? (io.stdin ?? null) : null,
    stdout: io.stdout,
    rawInput: ctx.interactive,
    ...(keys ? { inputFilter: (chunk: Buffer) => keys.push(chunk) } : {}),
  });
  try {
    const pid = await waitForPidFile(ctx.files.pid, NO_PID_FILE, { timeoutMs: 2000 });
    // The runtime has exited: the command is now our child (we are its subreaper).
    const exited = new Promise<number>((resolve, reject) =>
      native.waitPid(pid, (err, st) => (err ? reject(err) : resolve(st!.code ?? 128 + (st!.signal ?? 0)))),
    );
    const stopForwarding = forwardSignals((sig) => signalProcess(target, pid, sig));
    try {
      const first = await Promise.race([exited.then((status) => ({ status })), attachment.done.then((end) => ({ end }))]);
      if ('end' in first && first.end === 'detached') {
        holdTerminal(master, ctx.id, pid);
        return { exitCode: 0, detached: true };
      }
      const status = 'status' in first ? first.status : await exited;
      const grace = setTimeout(() => attachment.detach(), OUTPUT_GRACE_MS);
      await attachment.done;
      clearTimeout(grace);
      return { exitCode: status };
    } finally {
      stopForwarding();
    }
  } finally {
    attachment.restore();
    closeSync(master);
  }
}

/** Signals an exec'd process; one of another container user needs the container's user namespace (rootless). */
function signalProcess(target: RunningContainer, pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPERM') target.spawn(['kill', '-s', sig.slice(3), String(pid)], 'ignore');
  }
}
