import { closeSync, constants, mkdirSync, openSync, rmSync, symlinkSync } from 'node:fs';
import type { Socket } from 'node:net';
import { CtrError, errorMessage } from '../errors.js';
import { native, type SeqpacketReader } from '../native/index.js';
import { net } from './lazy-modules.js';

/** Where a container's attach socket and control fifo live (the store's monitor paths). */
export interface AttachServerPaths {
  /** socketLink/attach: the socket clients connect to. */
  attachSocket: string;
  /** A short link to the bundle, as conmon makes, so the socket's path fits a sockaddr_un. */
  socketLink: string;
  bundle: string;
  /** The control fifo: "1 HEIGHT WIDTH" lines resize the container's terminal. */
  control: string;
}

export interface AttachServerOptions {
  /** Create the control fifo (-t containers), for setResize. */
  terminal: boolean;
}

export type AttachStream = 'stdout' | 'stderr';

// conmon's stream numbers, the first byte of each packet it sends (its stdpipe_t).
const STREAM_BYTE: Record<AttachStream, number> = { stdout: 2, stderr: 3 };
// conmon's packets carry at most 8192 bytes of output (STDIO_BUF_SIZE).
const MAX_OUTPUT = 8192;
// A client this far behind is dropped: a slow reader must not hold back the container or the user's terminal.
const MAX_BACKLOG = 4 << 20;
const SEND_RETRY_MS = 10;
// What close() waits at most for slow clients to take the rest of the output and hang up.
const CLOSE_GRACE_MS = 2000;
// conmon's control fifo event for a window size.
const WIN_RESIZE_EVENT = 1;

/**
 * conmon's attach protocol, served by the process that runs a foreground container: a
 * SOCK_SEQPACKET socket at the container's attach path; each packet sent is a stream byte (2 =
 * stdout, 3 = stderr) and the output; each packet a client sends is input for the container;
 * any number of clients at once. A -t container's clients send window sizes to the control fifo.
 */
export class AttachServer {
  private readonly clients = new Set<Client>();
  private readonly acceptor: SeqpacketReader;
  private fifo: { reader: Socket; keepOpen: number } | undefined;
  private write: ((data: Buffer) => void) | undefined;
  private resize: ((rows: number, cols: number) => void) | undefined;
  private inputPaused = false;
  private closing = false;

  /** Listens at paths.attachSocket (replacing what an earlier run left there). */
  static open(paths: AttachServerPaths, opts: AttachServerOptions): AttachServer {
    const n = native();
    let listenFd: number;
    try {
      mkdirSync(paths.bundle, { recursive: true, mode: 0o700 });
      rmSync(paths.socketLink, { force: true });
      symlinkSync(paths.bundle, paths.socketLink);
      rmSync(paths.attachSocket, { force: true });
      listenFd = n.seqpacketListen(paths.attachSocket);
    } catch (err) {
      rmSync(paths.socketLink, { force: true });
      throw new CtrError(`cannot serve attach for the container at ${paths.attachSocket}: ${errorMessage(err)}; check that the run directory (--runroot) is writable`);
    }
    const server = new AttachServer(paths, listenFd);
    if (opts.terminal) {
      try {
        server.openControl();
      } catch (err) {
        void server.close();
        throw new CtrError(`cannot make the control fifo ${paths.control} of the container: ${errorMessage(err)}`);
      }
    }
    return server;
  }

  private constructor(
    private readonly paths: AttachServerPaths,
    listenFd: number,
  ) {
    this.acceptor = native().seqpacketAccept(listenFd, (err, fd) => {
      // The acceptor's last call (an error, or its cancellation): the listening socket is ours to close.
      if (err || fd === null) return closeQuietly(listenFd);
      if (this.closing) return closeQuietly(fd);
      this.clients.add(
        new Client(fd, {
          input: (data) => {
            if (!this.closing) this.write?.(data);
          },
          paused: this.inputPaused,
          gone: (c) => this.clients.delete(c),
        }),
      );
    });
  }

  /** Where clients' input goes from now on (containers started with -i); undefined drops it. */
  setInput(write: ((data: Buffer) => void) | undefined): void {
    this.write = write;
  }

  /** Holds clients' input back (the container's input is full) until resumeInput(). */
  pauseInput(): void {
    if (this.inputPaused || this.closing) return;
    this.inputPaused = true;
    for (const c of this.clients) c.pause();
  }

  resumeInput(): void {
    if (!this.inputPaused) return;
    this.inputPaused = false;
    for (const c of this.clients) c.resume();
  }

  /** What a window size a client sends goes to (-t containers). */
  setResize(resize: ((rows: number, cols: number) => void) | undefined): void {
    this.resize = resize;
  }

  /** Sends the container's output to every client. */
  output(stream: AttachStream, data: Buffer): void {
    if (this.clients.size === 0 || this.closing) return;
    for (let off = 0; off < data.length; off += MAX_OUTPUT) {
      const chunk = data.subarray(off, off + MAX_OUTPUT);
      const packet = Buffer.allocUnsafe(chunk.length + 1);
      packet[0] = STREAM_BYTE[stream];
      chunk.copy(packet, 1);
      for (const c of this.clients) c.send(packet);
    }
  }

  /**
   * Stops serving: no new clients, the socket and fifo removed; clients get the output still
   * queued for them, then end of file, and close() returns once they hung up (or after a grace
   * time), so that what they read next (the exit file) is still there.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.acceptor.cancel();
    this.write = undefined;
    this.resize = undefined;
    rmSync(this.paths.attachSocket, { force: true });
    rmSync(this.paths.socketLink, { force: true });
    if (this.fifo) {
      this.fifo.reader.destroy();
      closeQuietly(this.fifo.keepOpen);
      rmSync(this.paths.control, { force: true });
    }
    const deadline = Date.now() + CLOSE_GRACE_MS;
    await Promise.all([...this.clients].map((c) => c.finish(deadline)));
  }

  /** The control fifo, read without blocking; ctr keeps a writer open so that it never reads end of file. */
  private openControl(): void {
    const path = this.paths.control;
    rmSync(path, { force: true });
    native().mknod(path, constants.S_IFIFO | 0o600, 0, 0);
    const readFd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const keepOpen = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    const reader = new (net().Socket)({ fd: readFd, readable: true, writable: false });
    let pending = '';
    reader.on('data', (d: Buffer) => {
      pending += d.toString('latin1');
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const [event, rows, cols] = pending.slice(0, nl).trim().split(/\s+/).map(Number);
        pending = pending.slice(nl + 1);
        if (event === WIN_RESIZE_EVENT && rows! > 0 && cols! > 0) this.resize?.(rows!, cols!);
      }
    });
    reader.on('error', () => {});
    this.fifo = { reader, keepOpen };
  }
}

interface ClientHooks {
  /** A packet the client sent. */
  input(data: Buffer): void;
  /** Whether to hold its input back from the start. */
  paused: boolean;
  /** It was dropped or closed. */
  gone(c: Client): void;
}

/** One connected client: its reader thread, and the output it has not taken yet. */
class Client {
  private readonly reader: SeqpacketReader;
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private retry: NodeJS.Timeout | undefined;
  /** The reader's last callback came: the fd is ours alone. */
  private readerDone = false;
  private hungUp!: () => void;
  private readonly gone = new Promise<void>((resolve) => (this.hungUp = resolve));
  private closed = false;

  constructor(
    private readonly fd: number,
    private readonly hooks: ClientHooks,
  ) {
    this.reader = native().seqpacketRead(fd, (err, packet) => {
      if (err || !packet) {
        this.readerDone = true;
        this.hungUp();
        // Cancelled by end(): nothing else will close it.
        if (this.closed) closeQuietly(this.fd);
        return;
      }
      hooks.input(packet);
    });
    if (hooks.paused) this.reader.pause();
  }

  pause(): void {
    this.reader.pause();
  }

  resume(): void {
    this.reader.resume();
  }

  send(packet: Buffer): void {
    if (this.closed) return;
    if (this.queue.length > 0) {
      this.queue.push(packet);
      this.queued += packet.length;
      if (this.queued > MAX_BACKLOG) this.end();
      return;
    }
    if (!this.trySend(packet)) {
      this.queue.push(packet);
      this.queued += packet.length;
      this.retry = setTimeout(() => this.flush(), SEND_RETRY_MS);
    }
  }

  /** Sends what it has not taken yet, then end of file; resolves once it hung up or at the deadline. */
  async finish(deadline: number): Promise<void> {
    this.reader.resume();
    // The retry timer keeps sending meanwhile.
    while (!this.closed && this.queue.length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, SEND_RETRY_MS));
    if (this.closed) return;
    try {
      native().seqpacketShutdown(this.fd);
    } catch {
      // it hung up already
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.gone, new Promise<void>((r) => (timer = setTimeout(r, Math.max(0, deadline - Date.now()))))]);
    clearTimeout(timer);
    this.end();
  }

  private flush(): void {
    this.retry = undefined;
    while (this.queue.length > 0 && !this.closed) {
      if (!this.trySend(this.queue[0]!)) {
        this.retry = setTimeout(() => this.flush(), SEND_RETRY_MS);
        return;
      }
      if (this.closed) return;
      this.queued -= this.queue.shift()!.length;
    }
  }

  /** false when its socket is full; a client that went away is ended (and true returned: nothing to retry). */
  private trySend(packet: Buffer): boolean {
    try {
      if (native().seqpacketSend(this.fd, packet) < 0) return false;
    } catch {
      this.end();
    }
    return true;
  }

  private end(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.queue.length = 0;
    this.hooks.gone(this);
    if (this.readerDone) closeQuietly(this.fd);
    else this.reader.cancel();
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
