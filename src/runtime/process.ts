import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import type { Socket } from 'node:net';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { consoleNative } from '../native/console.js';
import { native, type SeqpacketReader } from '../native/index.js';
import { runtimeExit } from './oci.js';
import { net } from './lazy-modules.js';

/** A process ctr started and waits for: what running a container in the foreground needs of it. */
export interface StartedProcess {
  readonly pid: number;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** null until it has exited. */
  readonly exitCode: number | null;
  /** Its exit code once it ends, 128+N when signal N ended it. */
  readonly exited: Promise<number>;
  kill(signal: NodeJS.Signals): void;
  /**
   * Reads the child's output i (1 or 2) on a thread of the addon instead of through a stream
   * (whose code takes ~4 ms to load): onChunk gets each chunk, then null at its end or an error
   * (ECANCELED after cancel()), after which the pipe is closed. Only for a pipe not read as
   * stdout/stderr already; absent for a child Node started.
   */
  readOutput?(i: 1 | 2, onChunk: (err: Error | null, chunk: Buffer | null) => void): SeqpacketReader;
}

/** 'pipe': a pipe to ctr; 'ignore': /dev/null; a number: that descriptor of ctr's. */
export type ProcessStdio = 'pipe' | 'ignore' | number;

export interface StartOptions {
  /** The child's descriptors from 0 on; pipes only for 0, 1 and 2. */
  stdio: ProcessStdio[];
  env?: NodeJS.ProcessEnv;
  /** A process whose user namespace the child joins before it executes argv[0] (as nsenter would). */
  usernsOf?: number;
}

/**
 * Starts argv (argv[0] a path) from the addon (see src/native/spawn.c): without forking ctr and,
 * for a namespace, without nsenter. Throws, errno set, when argv[0] could not be executed.
 */
export function startProcess(argv: string[], opts: StartOptions): StartedProcess {
  const n = native();
  const childFds: number[] = [];
  const ours: (number | undefined)[] = [];
  const theirs: number[] = [];
  let devNull: number | undefined;
  let pid: number;
  try {
    opts.stdio.forEach((s, i) => {
      if (s === 'pipe') {
        if (i > 2) throw new Error('startProcess makes pipes for fds 0, 1 and 2 only');
        const [r, w] = n.pipe();
        ours[i] = i === 0 ? w : r;
        childFds[i] = i === 0 ? r : w;
        theirs.push(childFds[i]!);
      } else if (s === 'ignore') {
        devNull ??= openSync('/dev/null', 'r+');
        childFds[i] = devNull;
      } else {
        childFds[i] = s;
      }
    });
    const nsFd = opts.usernsOf === undefined ? -1 : openSync(`/proc/${opts.usernsOf}/ns/user`, 'r');
    try {
      pid = n.spawn(argv[0]!, argv, envList(opts.env ?? process.env), childFds, nsFd);
    } finally {
      if (nsFd >= 0) closeSync(nsFd);
    }
  } catch (err) {
    for (const fd of ours) if (fd !== undefined) closeSync(fd);
    throw err;
  } finally {
    for (const fd of theirs) closeSync(fd);
    if (devNull !== undefined) closeSync(devNull);
  }
  // Made on first use: loading Node's stream code (~4 ms) waits until the child runs.
  const streams: (Socket | null | undefined)[] = [];
  const stream = (i: number) => (streams[i] ??= ours[i] === undefined ? null : new (net().Socket)({ fd: ours[i], readable: i > 0, writable: i === 0 }));
  let exitCode: number | null = null;
  const exited = new Promise<number>((resolve, reject) =>
    consoleNative().waitPid(pid, (err, st) => {
      if (err) return reject(err);
      exitCode = st!.code ?? 128 + (st!.signal ?? 0);
      resolve(exitCode);
    }),
  );
  return {
    pid,
    get stdin() {
      return stream(0);
    },
    get stdout() {
      return stream(1);
    },
    get stderr() {
      return stream(2);
    },
    get exitCode() {
      return exitCode;
    },
    exited,
    kill(signal) {
      if (exitCode === null) process.kill(pid, signal);
    },
    readOutput(i, onChunk) {
      const fd = ours[i];
      if (fd === undefined || streams[i] !== undefined) throw new Error(`the child's output ${i} is no pipe of ctr's, or is read as a stream already`);
      streams[i] = null;
      ours[i] = undefined;
      return n.pipeRead(fd, (err, chunk) => {
        if (err || chunk === null) closeSync(fd);
        onChunk(err, chunk);
      });
    },
  };
}

/** The same face on a runtime process Node spawned; `exited` rejects when it could not be started. */
export function startedChild(child: ChildProcess, path: string): StartedProcess {
  const exited = runtimeExit(child, path);
  return {
    get pid() {
      return child.pid ?? 0;
    },
    stdin: child.stdin,
    stdout: child.stdout,
    stderr: child.stderr,
    get exitCode() {
      return child.exitCode ?? (child.signalCode ? 128 + (constants.signals[child.signalCode] ?? 0) : null);
    },
    exited,
    kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

function envList(env: NodeJS.ProcessEnv): string[] {
  const list: string[] = [];
  for (const [k, v] of Object.entries(env)) if (v !== undefined) list.push(`${k}=${v}`);
  return list;
}
