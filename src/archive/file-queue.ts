import { getSystemErrorMessage, getSystemErrorName } from 'node:util';
import { native, type NativeFileQueue } from '../native/index.js';
import { displayName } from './tar.js';

export interface QueuedFile {
  /** Byte-string path relative to the queue's root; must not exist yet, its parents must. */
  rel: string;
  content: Buffer | Buffer[];
  /** Permission bits for the new file; with chmod also the setuid/setgid/sticky bits, set after chown. */
  mode: number;
  chown: boolean;
  chmod: boolean;
  uid: number;
  gid: number;
  /** Seconds since the epoch, as Node's futimesSync takes them. */
  atime: number;
  mtime: number;
}

/**
 * Creates small files on the addon's threads while the caller parses on: one push copies the
 * content and returns. The caller keeps the order right: wait() before anything that reads,
 * replaces or removes a queued path, or depends on it existing (hard links, directory times).
 * A failure (ENOSPC...) surfaces, as Node's fs would word it, from the next push or wait.
 */
export class FileQueue {
  private handle: NativeFileQueue | undefined;
  private pending = 0;

  constructor(
    private readonly root: string,
    threads: number,
    maxBytes: number,
  ) {
    this.handle = native().fileQueueOpen(root, threads, maxBytes);
  }

  push(f: QueuedFile): void {
    const flags = (f.chown ? 1 : 0) | (f.chmod ? 2 : 0);
    try {
      native().fileQueuePush(this.live(), f.rel, f.content, f.mode, f.uid, f.gid, flags, unixTime(f.atime), unixTime(f.mtime));
    } catch (err) {
      throw this.describe(err);
    }
    this.pending++;
  }

  /** Starts the threads on what is queued: call it before waiting for more input. Throws a failure so far. */
  kick(): void {
    if (this.pending === 0) return;
    try {
      native().fileQueueKick(this.live());
    } catch (err) {
      throw this.describe(err);
    }
  }

  /** Returns when every queued file exists with its content and metadata. */
  wait(): void {
    if (this.pending === 0) return;
    try {
      native().fileQueueWait(this.live());
    } catch (err) {
      throw this.describe(err);
    }
    this.pending = 0;
  }

  /** Stops the threads; with cancel, files still queued are skipped (the caller removes the tree). */
  close(cancel: boolean): void {
    if (!this.handle) return;
    native().fileQueueClose(this.handle, cancel);
    this.handle = undefined;
  }

  private live(): NativeFileQueue {
    if (!this.handle) throw new Error('the file queue is closed');
    return this.handle;
  }

  /** The addon's failure as the error Node's fs would have thrown for the same call. */
  private describe(err: unknown): unknown {
    if (!(err instanceof Error) || !('errno' in err) || typeof err.errno !== 'number' || !('syscall' in err)) return err;
    const errno = err.errno;
    const syscall = String(err.syscall);
    const path = 'path' in err && typeof err.path === 'string' ? `${this.root}/${displayName(err.path)}` : undefined;
    const out: NodeJS.ErrnoException = new Error(
      `${getSystemErrorName(errno)}: ${getSystemErrorMessage(errno)}, ${syscall}${path === undefined ? '' : ` '${path}'`}`,
    );
    out.errno = errno;
    out.code = getSystemErrorName(errno);
    out.syscall = syscall;
    if (path !== undefined) out.path = path;
    return out;
  }
}

/** Node's rule for futimes: a negative time means now, a time that is not finite is refused. */
function unixTime(t: number): number {
  if (!Number.isFinite(t)) throw new TypeError(`the time ${t} is not a finite number`);
  return t < 0 ? Date.now() / 1000 : t;
}
