import { closeSync, constants as fsConstants, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { CtrError, errorMessage } from '../errors.js';
import { native, type SeqpacketReader } from '../native/index.js';
import { enterRawMode, restoreTerminal, restoreTerminalOnExit, terminalFd, userTerminalSize } from '../runtime/tty.js';
import { findContainer, reconcile } from './containers.js';
import { openEngine, type EngineOptions } from './context.js';
import { findRunning, type RunningContainer } from './running.js';
import { FORWARDED_SIGNALS } from '../runtime/signals.js';

export interface AttachOptions extends EngineOptions {
  container: string;
  /** docker's format ("ctrl-p,ctrl-q", "ctrl-a,x"); undefined = ctrl-p,ctrl-q; '' = none. */
  detachKeys?: string;
  /** Do not pass standard input, even to a container that takes it. */
  noStdin?: boolean;
  /** Pass signals ctr receives on to a container without a terminal (default true), as docker does. */
  sigProxy?: boolean;
  /** The global --runtime, for containers created without one. */
  runtime?: string;
}

export interface AttachIO {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

export interface AttachResult {
  /** The container's exit code, or 0 after a detach. */
  exitCode: number;
  detached: boolean;
}

export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

// conmon's attach socket: each packet it sends starts with the stream it came from.
const STDOUT_PIPE = 2;
const STDERR_PIPE = 3;
// conmon reads at most this much of a packet we send (CONN_SOCK_BUF_SIZE is 32 KiB): stay well under.
const MAX_INPUT_PACKET = 8192;
const SEND_RETRY_MS = 10;
// conmon's control fifo: "1 HEIGHT WIDTH" resizes the container's terminal.
const WIN_RESIZE_EVENT = 1;
// How long the container's exit code may take to appear once conmon closed the socket.
const EXIT_WAIT_MS = 5000;


/**
 * docker's detach keys: comma-separated keys, each a single character or ctrl-X (X a letter,
 * or one of @ [ \ ] ^ _). An empty string means no detach keys.
 */
export function parseDetachKeys(spec: string): Buffer {
  if (spec === '') return Buffer.alloc(0);
  const bytes = spec.split(',').map((key) => {
    if (key.length === 1) return key.charCodeAt(0);
    const m = /^ctrl-(.)$/i.exec(key);
    if (m) {
      const c = m[1]!.toLowerCase();
      if (c >= 'a' && c <= 'z') return c.charCodeAt(0) - 96;
      const special = '@[\\]^_'.indexOf(c);
      if (special >= 0) return special === 0 ? 0 : 26 + special;
    }
    throw new CtrError(`invalid detach keys "${spec}": "${key}" is not a key; use a comma-separated list such as ctrl-p,ctrl-q, ctrl-a or x`);
  });
  return Buffer.from(bytes);
}

/**
 * Watches the user's input for the detach sequence: bytes that may start it are held back
 * until it completes (detach) or turns out to be something else (then they go through).
 */
export class DetachKeyFilter {
  private matched = 0;

  constructor(private readonly keys: Buffer) {}

  push(chunk: Buffer): { data: Buffer; detach: boolean } {
    if (this.keys.length === 0) return { data: chunk, detach: false };
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) return { data: Buffer.from(out), detach: true };
        continue;
      }
      for (let i = 0; i < this.matched; i++) out.push(this.keys[i]!);
      this.matched = 0;
      if (byte === this.keys[0]) this.matched = 1;
      else out.push(byte);
    }
    return { data: Buffer.from(out), detach: false };
  }
}

/**
 * `ctr attach`: connects the user's standard streams to a running container through its
 * monitor's attach socket (conmon's for a detached container, the ctr that runs it in the
 * foreground for the others; SOCK_SEQPACKET): the container's output to stdout and
 * stderr, the user's input to the container (when it was started with -i), the user's terminal
 * in raw mode and its size followed (-t containers). Ends with the container's exit code, or 0
 * when the user typed the detach keys (the container keeps running).
 */
export async function attachContainer(opts: AttachOptions, io: AttachIO): Promise<AttachResult> {
  const keys = parseDetachKeys(opts.detachKeys ?? DEFAULT_DETACH_KEYS);
  const engine = openEngine(opts);
  const target = await findRunning(engine, opts.container, { globalRuntime: opts.runtime });
  const { rec, cfg } = target;
  const paths = engine.store.monitorPaths(rec.id);
  if (!existsSync(paths.attachSocket)) {
    throw new CtrError(
      `container ${rec.name} has no attach socket at ${paths.attachSocket} (its monitor is gone or is an older ctr); use ctr exec -it ${rec.name} sh, or ctr logs -f ${rec.name}`,
    );
  }
  const n = native();
  let fd: number;
  try {
    fd = n.seqpacketConnect(paths.attachSocket);
  } catch (err) {
    throw new CtrError(`cannot attach to container ${rec.name}: ${errorMessage(err)}`);
  }
  const withStdin = cfg.interactive && !opts.noStdin;
  const session = new AttachSession(fd, io, {
    tty: cfg.tty,
    stdin: withStdin ? io.stdin : null,
    filter: withStdin ? new DetachKeyFilter(keys) : undefined,
    control: cfg.tty ? paths.control : undefined,
    exitFile: paths.exitFile,
    // As docker: with a terminal, keys such as ctrl-c reach the container as input, and signals to ctr are ctr's own.
    signal: opts.sigProxy === false || cfg.tty ? undefined : (sig) => signalContainer(target, sig),
  });
  const end = await session.done;
  if (end === 'detached') return { exitCode: 0, detached: true };
  return { exitCode: session.exitAtEnd ?? (await exitCode(engine, rec.id, paths.exitFile)), detached: false };
}

interface SessionOptions {
  tty: boolean;
  stdin: Readable | null;
  filter?: DetachKeyFilter;
  /** conmon's control fifo, to pass on the user's window size (-t containers). */
  control?: string;
  /** Read as the socket ends, before we hang up: a foreground ctr waits for that before run --rm removes it. */
  exitFile?: string;
  signal?: (sig: NodeJS.Signals) => void;
}

/** One connection to an attach socket: copies both ways until the socket closes or the user detaches. */
class AttachSession {
  readonly done: Promise<'closed' | 'detached'>;
  /** The exit file's code when the monitor had written it by the time the socket ended. */
  exitAtEnd: number | undefined;
  private settle!: (end: 'closed' | 'detached') => void;
  private fail!: (err: Error) => void;
  private readonly reader: SeqpacketReader;
  private readonly rawFd: number | undefined;
  private readonly queue: Buffer[] = [];
  private retry: NodeJS.Timeout | undefined;
  private finished = false;
  private inputClosed = false;
  private readonly onInput = (chunk: Buffer | string) => this.input(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  private readonly onInputEnd = () => this.endInput();
  // The user's terminal went away (hung up): as a detach, the container goes on without it.
  private readonly onInputError = () => this.finish(undefined, 'detached');
  private readonly onOutputError = () => this.finish(undefined, 'detached');
  private readonly onResize = () => this.resize();
  private readonly onSignal = (sig: NodeJS.Signals) => this.opts.signal?.(sig);

  constructor(
    private readonly fd: number,
    private readonly io: AttachIO,
    private readonly opts: SessionOptions,
  ) {
    this.done = new Promise((resolve, reject) => {
      this.settle = resolve;
      this.fail = reject;
    });
    const { stdin } = opts;
    this.rawFd = opts.tty && stdin ? terminalFd(stdin) : undefined;
    if (this.rawFd !== undefined) {
      restoreTerminalOnExit();
      enterRawMode(this.rawFd);
    }
    if (opts.control) {
      this.resize();
      process.on('SIGWINCH', this.onResize);
    }
    if (opts.signal) for (const sig of FORWARDED_SIGNALS) process.on(sig, this.onSignal);
    this.reader = native().seqpacketRead(fd, (err, packet) => this.output(err, packet));
    io.stdout.on('error', this.onOutputError);
    io.stderr.on('error', this.onOutputError);
    if (stdin) {
      stdin.on('data', this.onInput);
      stdin.on('end', this.onInputEnd);
      stdin.on('error', this.onInputError);
      stdin.resume();
    }
  }

  private output(err: NodeJS.ErrnoException | null, packet: Buffer | null): void {
    // The reader's last call (end of file, an error, or its cancellation): the socket is ours to close.
    if (!err && !packet && !this.finished && this.opts.exitFile) this.exitAtEnd = readExitFile(this.opts.exitFile);
    if (err || !packet) closeQuietly(this.fd);
    if (this.finished) return;
    if (err) return this.finish(err.code === 'ECANCELED' ? undefined : err);
    if (!packet) return this.finish();
    if (packet.length < 2) return;
    const out = packet[0] === STDERR_PIPE && !this.opts.tty ? this.io.stderr : packet[0] === STDOUT_PIPE || packet[0] === STDERR_PIPE ? this.io.stdout : undefined;
    if (!out) return;
    if (!out.write(packet.subarray(1))) {
      this.reader.pause();
      out.once('drain', () => this.reader.resume());
    }
  }

  private input(chunk: Buffer): void {
    if (this.finished || this.inputClosed) return;
    const { data, detach } = this.opts.filter ? this.opts.filter.push(chunk) : { data: chunk, detach: false };
    for (let off = 0; off < data.length; off += MAX_INPUT_PACKET) this.queue.push(data.subarray(off, off + MAX_INPUT_PACKET));
    this.flush();
    if (detach) this.finish(undefined, 'detached');
  }

  private endInput(): void {
    this.inputClosed = true;
    this.flush();
  }

  /** Sends what the user typed; a full socket holds the rest back and pauses the input. */
  private flush(): void {
    this.retry = undefined;
    const n = native();
    while (this.queue.length > 0 && !this.finished) {
      let sent: number;
      try {
        sent = n.seqpacketSend(this.fd, this.queue[0]!);
      } catch {
        // The monitor is gone: its closing the socket ends the session.
        this.queue.length = 0;
        return;
      }
      if (sent < 0) {
        this.opts.stdin?.pause();
        this.retry = setTimeout(() => this.flush(), SEND_RETRY_MS);
        return;
      }
      this.queue.shift();
    }
    if (!this.finished) this.opts.stdin?.resume();
    if (this.inputClosed && this.queue.length === 0 && !this.finished) {
      try {
        // End of the user's input: the container's standard input ends too.
        n.seqpacketShutdown(this.fd);
      } catch {
        // already closed by the monitor
      }
    }
  }

  private resize(): void {
    const control = this.opts.control;
    const size = userTerminalSize(this.io.stdout, this.opts.stdin);
    if (!control || !size) return;
    try {
      // Non-blocking: a monitor that went away must not hang ctr on the fifo.
      const cfd = openSync(control, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
      try {
        writeSync(cfd, `${WIN_RESIZE_EVENT} ${size.rows} ${size.cols}\n`);
      } finally {
        closeSync(cfd);
      }
    } catch {
      // The monitor is gone or not listening: the session ends on its own.
    }
  }

  private finish(err?: Error, end: 'closed' | 'detached' = 'closed'): void {
    if (this.finished) return;
    this.finished = true;
    if (this.retry) clearTimeout(this.retry);
    process.off('SIGWINCH', this.onResize);
    for (const sig of FORWARDED_SIGNALS) process.off(sig, this.onSignal);
    const { stdin } = this.opts;
    if (stdin) {
      stdin.off('data', this.onInput);
      stdin.off('end', this.onInputEnd);
      stdin.off('error', this.onInputError);
      stdin.pause();
      // A paused pipe still holds Node's loop: ctr would not exit while the user's input stays open.
      (stdin as { unref?: () => void }).unref?.();
    }
    if (this.rawFd !== undefined) restoreTerminal(this.rawFd);
    this.reader.cancel();
    const flushed = () => (err ? this.fail(new CtrError(`read from the container's attach socket: ${err.message}`)) : this.settle(end));
    // What was handed to stdout and stderr must be out before the caller reports an exit code.
    let pending = 2;
    const one = () => {
      if (--pending > 0) return;
      this.io.stdout.off('error', this.onOutputError);
      this.io.stderr.off('error', this.onOutputError);
      flushed();
    };
    this.io.stdout.write('', one);
    this.io.stderr.write('', one);
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

/** Signals the container's main process: directly when ctr may, else through the runtime in its user namespace. */
function signalContainer(target: RunningContainer, sig: NodeJS.Signals): void {
  const pid = target.rec.state.pid;
  try {
    if (!pid) throw Object.assign(new Error('no pid'), { code: 'EPERM' });
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPERM') target.runtimeCall(['kill', target.rec.id, sig.slice(3)]).catch(() => {});
  }
}

/**
 * The exit code of a container whose monitor just closed the attach socket: from the exit file
 * the monitor writes, else from the record its exit command (or the next reconcile) updates.
 */
async function exitCode(engine: ReturnType<typeof openEngine>, id: string, exitFile: string): Promise<number> {
  const deadline = Date.now() + EXIT_WAIT_MS;
  for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
    const code = readExitFile(exitFile);
    if (code !== undefined) return code;
    const rec = findContainer(await reconcile(engine.store), id);
    if (rec?.state.status === 'exited' && rec.state.exitCode !== undefined) return rec.state.exitCode;
    if (!rec) return 0;
    if (Date.now() > deadline) throw new CtrError(`the container's monitor closed the attach socket but no exit code was recorded; see ctr ps -a`);
    await sleep(wait);
  }
}

/** The code in a monitor's exit file; undefined while it is not written (or was removed with the container). */
function readExitFile(path: string): number | undefined {
  try {
    const text = readFileSync(path, 'utf8').trim();
    return /^-?\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}
