import { rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomHex } from '../random.js';
import { CtrError, errnoCode, errorMessage } from '../errors.js';
import { consoleNative, type ConsoleReceive } from '../native/console.js';
import { tty } from './lazy-modules.js';

/** A unix socket the OCI runtime connects to (`--console-socket`) to hand over the pty master. */
export interface ConsoleSocket {
  readonly path: string;
  /** The pty master fd (close-on-exec), once the runtime sent it; the caller owns and closes it. */
  readonly master: Promise<number>;
  /** Stops listening and removes the socket; a pending `master` rejects. Safe to call twice. */
  close(): void;
}

/** How an attachment ended: the container's side of the terminal closed, or the user detached. */
export type AttachEnd = 'closed' | 'detached';

/** Sees every chunk the user types before the container does: the hook for detach keys. */
export type InputFilter = (chunk: Buffer) => { data: Buffer; detach: boolean };

export interface AttachOptions {
  /** The user's input, or null when the container gets none (`-t` without `-i`). */
  stdin: NodeJS.ReadableStream | null;
  stdout: NodeJS.WritableStream;
  /** Put the user's terminal (stdin, when it is one) in raw mode, so keys such as Ctrl-C reach the container. */
  rawInput: boolean;
  inputFilter?: InputFilter;
  /** Sees every chunk of the container's output (for its log). */
  onOutput?: (chunk: Buffer) => void;
}

export interface TerminalAttachment {
  /** Resolves once all the container's output is written to stdout (or after detach()). */
  readonly done: Promise<AttachEnd>;
  /** Stops copying both ways and restores the user's terminal; the container keeps running. */
  detach(): void;
  /** Puts the user's terminal back in the mode it had before; idempotent. */
  restore(): void;
}

// Longest path a sockaddr_un holds, with its terminating NUL.
const SOCKET_PATH_MAX = 107;
// How long to wait before trying again to write to a pty whose input queue is full.
const WRITE_RETRY_MS = 10;

/** Listens on a new console socket in dir (which should be private to the user). */
export async function createConsoleSocket(dir: string): Promise<ConsoleSocket> {
  const path = join(dir, `console-${randomHex(6)}.sock`);
  if (Buffer.byteLength(path) > SOCKET_PATH_MAX) {
    throw new CtrError(`the console socket path ${path} is longer than the ${SOCKET_PATH_MAX} bytes a unix socket allows: use a shorter run directory (--runroot)`);
  }
  const c = consoleNative();
  let listenFd: number;
  try {
    listenFd = c.consoleListen(path);
  } catch (err) {
    throw new CtrError(`${errorMessage(err)}: check that ${dir} exists and is writable`);
  }
  let receiving!: ConsoleReceive;
  let closed = false;
  const unlink = () => rmSync(path, { force: true });
  const master = new Promise<number>((resolve, reject) => {
    receiving = c.consoleReceive(listenFd, path, (err, fd) => {
      unlink();
      if (err && err.code === 'ECANCELED') reject(new CtrError(`the console socket ${path} was closed before the OCI runtime sent the terminal`));
      else if (err) reject(new CtrError(`${err.message}: the OCI runtime did not hand over a terminal`));
      else resolve(fd!);
    });
  });
  // close() may reject it with no one left waiting: that is not an unhandled error.
  master.catch(() => {});
  return {
    path,
    master,
    close() {
      if (closed) return;
      closed = true;
      receiving.cancel();
      unlink();
    },
  };
}

/**
 * docker's rule: `-i -t` needs a terminal on stdin (exit code 1, as docker's client);
 * `-t` alone runs without one and the container still gets a pty. stdin is asked for only then:
 * opening it costs milliseconds, and most runs never read it.
 */
export function checkTerminalInput(opts: { interactive: boolean; tty: boolean; stdin: () => NodeJS.ReadableStream }): void {
  if (opts.tty && opts.interactive && terminalFd(opts.stdin()) === undefined) throw new CtrError('the input device is not a TTY', 1);
}

/** The size of the user's terminal (stdout's, else stdin's), for the spec's process.consoleSize. */
export function userTerminalSize(stdout: NodeJS.WritableStream, stdin: NodeJS.ReadableStream | null): { rows: number; cols: number } | undefined {
  const fd = terminalFd(stdout) ?? (stdin ? terminalFd(stdin) : undefined);
  if (fd === undefined) return undefined;
  try {
    const size = consoleNative().getWindowSize(fd);
    return size.rows > 0 && size.cols > 0 ? size : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Connects the user's terminal to a container's pty master: input to the master, the
 * master's output to stdout, the user's window size to the master (now and on SIGWINCH).
 * The caller keeps masterFd (the copy works on a duplicate) and closes it when done.
 */
export function attachTerminal(masterFd: number, opts: AttachOptions): TerminalAttachment {
  const c = consoleNative();
  const { stdin, stdout } = opts;
  const rawFd = opts.rawInput && stdin ? terminalFd(stdin) : undefined;
  const sizeFd = terminalFd(stdout) ?? (stdin ? terminalFd(stdin) : undefined);
  const fd = c.dupNonBlock(masterFd);
  let finished = false;
  let outputBroken = false;
  let settle!: (end: AttachEnd) => void;
  let fail!: (err: Error) => void;
  const done = new Promise<AttachEnd>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });

  const resize = () => {
    if (sizeFd === undefined) return;
    try {
      const size = c.getWindowSize(sizeFd);
      if (size.rows > 0 && size.cols > 0) c.setWindowSize(fd, size.rows, size.cols);
    } catch {
      // The container's side is gone or the user's terminal went away: nothing left to resize.
    }
  };
  if (sizeFd !== undefined) {
    resize();
    process.on('SIGWINCH', resize);
  }

  if (rawFd !== undefined) {
    restoreTerminalOnExit();
    enterRawMode(rawFd);
  }
  const restore = () => {
    if (rawFd !== undefined) restoreTerminal(rawFd);
  };

  const reader = new (tty().ReadStream)(fd);
  const writer = new PtyWriter(fd, (blocked) => (blocked ? stdin?.pause() : stdin?.resume()));
  const onOutputError = () => {
    outputBroken = true;
  };
  stdout.on('error', onOutputError);
  reader.on('data', (chunk: Buffer) => {
    opts.onOutput?.(chunk);
    if (outputBroken) return;
    if (!stdout.write(chunk)) {
      reader.pause();
      stdout.once('drain', () => reader.resume());
    }
  });
  // The slave side closes when the container exits: reads then fail with EIO, the normal end.
  reader.on('error', (err) => finish(errnoCode(err) === 'EIO' ? undefined : err));
  reader.on('end', () => finish());

  const onInput = (chunk: Buffer | string) => {
    let data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (opts.inputFilter) {
      const filtered = opts.inputFilter(data);
      data = filtered.data;
      if (data.length > 0) writer.write(data);
      if (filtered.detach) finish(undefined, 'detached');
      return;
    }
    writer.write(data);
  };
  stdin?.on('data', onInput);

  function finish(err?: Error, end: AttachEnd = 'closed') {
    if (finished) return;
    finished = true;
    process.off('SIGWINCH', resize);
    if (stdin) {
      stdin.off('data', onInput);
      stdin.pause();
    }
    writer.close();
    restore();
    reader.destroy();
    // What was handed to stdout must be out before the caller reports an exit code.
    const flushed = () => {
      stdout.off('error', onOutputError);
      if (err) fail(new CtrError(`read from the container's terminal: ${err.message}`));
      else settle(end);
    };
    if (outputBroken) flushed();
    else stdout.write('', flushed);
  }

  return { done, detach: () => finish(undefined, 'detached'), restore };
}

/** Writes to the non-blocking master without ever blocking the event loop: a full pty pauses the input instead. */
export class PtyWriter {
  private queue: Buffer[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private blocked = false;

  constructor(
    private readonly fd: number,
    private readonly onBlocked: (blocked: boolean) => void,
  ) {}

  write(data: Buffer): void {
    if (this.closed) return;
    this.queue.push(data);
    if (this.timer === undefined) this.flush();
  }

  close(): void {
    this.closed = true;
    this.queue = [];
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private flush(): void {
    this.timer = undefined;
    while (this.queue.length > 0 && !this.closed) {
      const head = this.queue[0]!;
      let written: number;
      try {
        written = writeSync(this.fd, head);
      } catch (err) {
        if (errnoCode(err) === 'EAGAIN') {
          this.setBlocked(true);
          this.timer = setTimeout(() => this.flush(), WRITE_RETRY_MS);
          return;
        }
        // EIO: the container's side is gone; its output side ends the attachment.
        this.close();
        return;
      }
      if (written < head.length) this.queue[0] = head.subarray(written);
      else this.queue.shift();
    }
    this.setBlocked(false);
  }

  private setBlocked(blocked: boolean): void {
    if (blocked === this.blocked || this.closed) return;
    this.blocked = blocked;
    this.onBlocked(blocked);
  }
}

/** The fd behind a stream when it is a terminal. */
export function terminalFd(stream: NodeJS.ReadableStream | NodeJS.WritableStream): number | undefined {
  const fd = (stream as { fd?: unknown }).fd;
  return typeof fd === 'number' && tty().isatty(fd) ? fd : undefined;
}

// Modes to put back, by the fd of the user's terminal: first saved wins, so nesting cannot lose the original.
const savedModes = new Map<number, Buffer>();

/** Puts the user's terminal fd in raw mode, remembering its mode for restoreTerminal (and for any way out, see restoreTerminalOnExit). */
export function enterRawMode(fd: number): void {
  if (savedModes.has(fd)) return;
  savedModes.set(fd, consoleNative().makeRaw(fd));
}

/** Puts back the mode enterRawMode saved; idempotent. */
export function restoreTerminal(fd: number): void {
  const saved = savedModes.get(fd);
  if (!saved) return;
  savedModes.delete(fd);
  try {
    consoleNative().setTermios(fd, saved);
  } catch {
    // The terminal is gone (hung up): there is nothing left to restore.
  }
}

function restoreAllTerminals(): void {
  for (const fd of [...savedModes.keys()]) restoreTerminal(fd);
}

let exitHandlersInstalled = false;
const DEADLY_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Restores every terminal put in raw mode on any way out of the process: normal exit,
 * process.exit, uncaught exceptions (all emit 'exit') and deadly signals nobody else handles
 * (restored, then the signal is raised again so ctr still dies of it). Installs itself once.
 */
export function restoreTerminalOnExit(): void {
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  process.on('exit', restoreAllTerminals);
  for (const signal of DEADLY_SIGNALS) {
    const onSignal = () => {
      // Another listener (such as run's forwarding to the container) owns this signal.
      if (process.listenerCount(signal) > 1) return;
      restoreAllTerminals();
      process.off(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}
