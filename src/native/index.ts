import { loadAddon } from './load.js';

/** System calls Node lacks, from our own N-API addon (src/native/ctr_native.c). */
export interface Native {
  /** Takes a lock on an open file; false when nonblocking and the lock is held elsewhere. */
  flock(fd: number, exclusive: boolean, nonblocking: boolean): boolean;
  funlock(fd: number): void;
  /** Paths may be Buffers of raw bytes: file names from a tar need not be valid UTF-8. */
  lsetxattr(path: string | Buffer, name: string, value: Buffer): void;
  /** null when the attribute is absent or the file system has no xattrs. */
  lgetxattr(path: string | Buffer, name: string): Buffer | null;
  llistxattr(path: string | Buffer): string[];
  /** mode carries the file type bits (S_IFIFO, S_IFCHR, S_IFBLK) and the permissions. */
  mknod(path: string | Buffer, mode: number, major: number, minor: number): void;
  /** Flushes the whole file system that holds the open file fd. */
  syncfs(fd: number): void;
  /** Sets the capacity of the pipe fd is an end of (fcntl F_SETPIPE_SZ); returns the capacity it got. */
  setPipeSize(fd: number, size: number): number;
  /**
   * On a thread of its own: forks a process that unshares a user namespace and waits, runs
   * newuidmap and newgidmap (the args after the pid: inner outer count ...) for it, then calls
   * back with its pid. Closing fd ends it (the thread reaps it). Errors carry the tool's words.
   */
  usernsHold(
    newuidmap: string,
    uidArgs: string[],
    newgidmap: string,
    gidArgs: string[],
    callback: (err: NodeJS.ErrnoException | null, held?: { pid: number; fd: number }) => void,
  ): void;
  /**
   * Starts file (a path) with argv and env ("NAME=value" strings) without forking ctr: the child
   * shares ctr's memory until it executes file. fds[i] becomes the child's fd i (-1: closed); with
   * usernsFd >= 0 (an open /proc/PID/ns/user) the child joins that user namespace first. Returns
   * its pid; throws (errno set) when it could not execute file. Wait for it with waitPid.
   */
  spawn(file: string, argv: string[], env: string[], fds: number[], usernsFd: number): number;
  /** pipe2 with O_CLOEXEC: [read end, write end]. */
  pipe(): [number, number];
  /**
   * On a thread of its own: copies the file at path into a memfd called name and seals it against
   * any change (F_SEAL_SEAL|SHRINK|GROW|WRITE), then calls back with its fd (close-on-exec).
   */
  sealedCopy(path: string, name: string, callback: (err: NodeJS.ErrnoException | null, fd?: number) => void): void;
  /**
   * Starts `threads` threads that create regular files below the directory root; pushes block
   * while more than maxBytes of content wait. Close it when done (see FileQueue in archive/).
   */
  fileQueueOpen(root: string | Buffer, threads: number, maxBytes: number): NativeFileQueue;
  /**
   * Queues a new file at path (a byte string relative to root, whose parents exist): the content
   * is copied; flags: 1 = fchown to uid:gid, 2 = fchmod to mode after that; times in seconds.
   * Throws the first failure of an earlier file (errno, syscall and, for open, path set).
   */
  fileQueuePush(
    queue: NativeFileQueue,
    path: string,
    content: Buffer | Buffer[],
    mode: number,
    uid: number,
    gid: number,
    flags: number,
    atime: number,
    mtime: number,
  ): void;
  /** Wakes the threads for the files queued so far (pushes wake them in batches); throws the first failure. */
  fileQueueKick(queue: NativeFileQueue): void;
  /** Returns when every queued file is done; throws the first failure. */
  fileQueueWait(queue: NativeFileQueue): void;
  /** Stops the threads after the queued files, or skipping them with cancel. */
  fileQueueClose(queue: NativeFileQueue, cancel: boolean): void;
  /**
   * Connects a unix SOCK_SEQPACKET socket (which Node's net cannot open) at path, however long
   * the path; returns its fd (close-on-exec).
   */
  seqpacketConnect(path: string): number;
  /** Sends one packet without blocking; -1 when the socket's buffer is full (retry later). */
  seqpacketSend(fd: number, data: Buffer): number;
  /** Tells the peer we will send nothing more (it reads end of file). */
  seqpacketShutdown(fd: number): void;
  /**
   * Reads packets on a thread of its own, one callback per packet with its boundary kept, then
   * (null, null) at end of file, or an error (code ECANCELED after cancel()). fd stays the
   * caller's: close it after the last callback.
   */
  seqpacketRead(fd: number, onPacket: (err: NodeJS.ErrnoException | null, packet: Buffer | null) => void): SeqpacketReader;
  /** As seqpacketRead, for the read end of a pipe: each callback gets what one read returned. */
  pipeRead(fd: number, onChunk: (err: NodeJS.ErrnoException | null, chunk: Buffer | null) => void): SeqpacketReader;
  /**
   * A new SOCK_SEQPACKET socket listening at path (which must not exist), however long the path,
   * mode 0700; returns its fd (close-on-exec).
   */
  seqpacketListen(path: string): number;
  /**
   * Accepts connections on a thread of its own, one callback per client fd (close-on-exec, the
   * callback's to close), until an error (code ECANCELED after cancel()). listenFd stays the
   * caller's: close it after the last callback.
   */
  seqpacketAccept(listenFd: number, onClient: (err: NodeJS.ErrnoException | null, fd: number | null) => void): SeqpacketReader;
  /**
   * Starts a thread that decompresses (kind 0 none, 1 gzip, 2 zstd) what decompressPush gives it
   * into the buffers (all of one size), one at a time, hashing the output with sha256 if asked.
   * onEvent gets (0, slot, length, queued, null) for a filled buffer, which is the thread's again
   * after decompressRelease; then (1, -1, 0, queued, sha256 or null) at the end, or (2, -1, 0,
   * queued, Error with a Z_... or ZSTD_... code) on a failure. queued: input bytes still waiting.
   */
  decompressOpen(
    kind: number,
    hash: boolean,
    buffers: Buffer[],
    onEvent: (type: number, slot: number, length: number, queued: number, extra: Buffer | Error | null) => void,
  ): NativeDecompressor;
  /** Copies data to the thread's input; returns the input bytes waiting. */
  decompressPush(handle: NativeDecompressor, data: Buffer): number;
  /** No more input. */
  decompressEnd(handle: NativeDecompressor): void;
  decompressRelease(handle: NativeDecompressor, slot: number): void;
  /** Stops the thread (events already on their way still arrive: ignore them). */
  decompressClose(handle: NativeDecompressor): void;
}

/** An opaque handle on the addon's decompressing thread. */
export type NativeDecompressor = { readonly __brand: 'NativeDecompressor' };

/** A running seqpacketRead (or seqpacketAccept): pause() holds back further packets (the peer then waits) until resume(). */
export interface SeqpacketReader {
  pause(): void;
  resume(): void;
  cancel(): void;
}

/** An opaque handle on the addon's file-creating threads. */
export type NativeFileQueue = { readonly __brand: 'NativeFileQueue' };

let cached: Native | undefined;

export function native(): Native {
  cached ??= loadAddon() as Native;
  return cached;
}
