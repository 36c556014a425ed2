import { accessSync, constants } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { PassThrough, Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeDecompressError, openDecompressed, type Compression } from '../archive/unpack.js';
import { TarSplitReader } from '../archive/tarsplit.js';
import { CtrError, errorMessage } from '../errors.js';
import { detectIdMapping, maxContainerId, type IdMapping } from '../runtime/idmap.js';
import { selfCommand } from '../runtime/self.js';
import { DataFramer, frame, FrameType, type UnpackJob, type UnpackReply } from './unpack-protocol.js';
import { spawnInUserNamespace, type NamespacedChild } from '../runtime/userns.js';

export interface UnpackRequest {
  /** The layer directory to fill (exists, empty): diff/ and tar-split are written in it. */
  dest: string;
  mapping: IdMapping;
  /** The layer's media type (gzip, zstd or none); the worker also sniffs the magic bytes. */
  mediaType: string;
  /** How messages name the layer, e.g. its digest. */
  name?: string;
  /** The diff_id the image config promises: the uncompressed stream is hashed here and must match. */
  diffId?: string;
  /**
   * Decompress and hash in the worker instead of this process: a pull does (this process then
   * only receives and checks the compressed blob, and the pipe carries it instead of the tar;
   * ~3% faster for one Debian layer, and several layers no longer share one decompressing process).
   */
  decompressInWorker?: boolean;
}

export interface UnpackResult {
  diffId: string;
  /** Uncompressed tar bytes. */
  size: number;
  /** Things the user should know, e.g. device nodes skipped rootless. */
  notices: string[];
}

export interface LayerUnpack {
  /** Write the compressed layer bytes here as they arrive, then end it. */
  input: Writable;
  /** Settles after the worker finished; always await it (input errors repeat its reason). */
  done: Promise<UnpackResult>;
  /** Stops the worker; done rejects. The caller removes dest. */
  abort(): void;
}

function workerArgs(mapping: IdMapping): string[] {
  const ownership = mapping.mode === 'root' ? 'root' : mapping.mode === 'rootless' ? 'userns' : 'single';
  return [
    '__unpack',
    '--ownership', ownership,
    '--max-uid', String(mapping.mode === 'rootless' ? maxContainerId(mapping.uidMap) : 0),
    '--max-gid', String(mapping.mode === 'rootless' ? maxContainerId(mapping.gidMap) : 0),
    '--opaque-xattr', mapping.mode === 'root' ? 'trusted.overlay.opaque' : 'user.overlay.opaque',
    ...(mapping.user ? ['--user', mapping.user] : []),
  ];
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

/** A `ctr __unpack` process that unpacks one layer after another (see unpack-protocol.ts). */
interface Worker {
  child: NamespacedChild;
  mapping: IdMapping;
  busy: boolean;
  dead: boolean;
  /** Settles the job in progress with the worker's reply, or with why the worker died. */
  waiter?: (reply: UnpackReply | Error) => void;
}

// Workers outlive a job so that the layers of one pull share their start-up; an idle worker
// holds no reference on the event loop and ends when its stdin closes with this process.
const pool: Worker[] = [];

function setRef(w: Worker, on: boolean): void {
  for (const handle of [w.child, w.child.stdin, w.child.stdout, w.child.stderr] as ({ ref?(): void; unref?(): void } | null)[]) {
    if (on) handle?.ref?.();
    else handle?.unref?.();
  }
}

function spawnWorker(mapping: IdMapping): Worker {
  const child = spawnInUserNamespace(mapping, [...selfCommand(), ...workerArgs(mapping)], { selfWaits: true, stdio: ['pipe', 'pipe', 'pipe'] });
  const w: Worker = { child, mapping, busy: false, dead: false };
  let out = '';
  let err = '';
  child.stdin!.on('error', () => {});
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4096);
  });
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      const waiter = w.waiter;
      w.waiter = undefined;
      try {
        waiter?.(JSON.parse(line) as UnpackReply);
      } catch {
        waiter?.(new Error(`the unpack worker said something unexpected: ${line.slice(0, 200)}`));
      }
    }
  });
  const die = (reason: Error) => {
    w.dead = true;
    const idx = pool.indexOf(w);
    if (idx >= 0) pool.splice(idx, 1);
    const waiter = w.waiter;
    w.waiter = undefined;
    waiter?.(reason);
  };
  child.on('error', (e) => die(new CtrError(`cannot start the unpack worker: ${e.message}`)));
  child.ready.catch((e: unknown) => die(e instanceof CtrError ? e : new CtrError(errorMessage(e))));
  child.on('close', (code, signal) =>
    die(new Error(`the worker ${signal ? `was killed by ${signal}` : `exited with code ${code}`}${err ? `: ${lastLine(err)}` : ''}`)),
  );
  return w;
}

function acquireWorker(mapping: IdMapping): Worker {
  let w = pool.find((x) => !x.busy && !x.dead && x.mapping === mapping);
  if (!w) {
    w = spawnWorker(mapping);
    pool.push(w);
  }
  w.busy = true;
  setRef(w, true);
  return w;
}

/**
 * Starts workers ahead of need, until `count` are idle (a pull calls this before it asks the
 * registry anything, and again once it knows how many layers it will unpack at once): their
 * Node start-up then overlaps the round trips instead of delaying the layers.
 */
export function warmUnpackWorker(mapping: IdMapping, count = 1): void {
  for (let idle = pool.filter((x) => !x.busy && !x.dead && x.mapping === mapping).length; idle < count; idle++) {
    const w = spawnWorker(mapping);
    pool.push(w);
    setRef(w, false);
  }
}

function releaseWorker(w: Worker): void {
  w.busy = false;
  if (!w.dead) setRef(w, false);
}

/** The reply to the job a worker was just given, as the caller sees it; stop() kills the worker. */
function awaitJob(w: Worker, req: { name?: string }): { done: Promise<UnpackResult>; stop(reason: CtrError): void; what: string } {
  const what = req.name ? `layer ${req.name}` : 'the layer';
  let aborted: CtrError | undefined;
  const reply = new Promise<UnpackReply | Error>((resolve) => {
    w.waiter = resolve;
  });
  const done = reply.then((r) => {
    if (aborted) throw aborted;
    if (r instanceof CtrError) throw r;
    if (r instanceof Error) throw new CtrError(`cannot unpack ${what}: ${r.message}`);
    if (!r.ok) throw new CtrError(`cannot unpack ${what}: ${r.error}`);
    releaseWorker(w);
    return { diffId: r.diffId, size: r.size, notices: r.notices };
  });
  done.catch(() => {});
  const stop = (reason: CtrError) => {
    aborted ??= reason;
    w.dead = true;
    w.child.kill('SIGKILL');
  };
  return { done, stop, what };
}

/**
 * Stores the changes in an overlay upper directory (a container's) as a layer: the worker reads
 * the directory itself, inside the user namespace, and unpacks what it reads, with no tar in
 * between processes. lowers: the image's layer directories, top first.
 */
export function unpackUpper(req: Omit<UnpackRequest, 'mediaType' | 'diffId' | 'decompressInWorker'> & { upper: string; lowers: string[] }): {
  done: Promise<UnpackResult>;
  abort(): void;
} {
  const w = acquireWorker(req.mapping);
  const { done, stop, what } = awaitJob(w, req);
  const job: UnpackJob = { dest: req.dest, upper: { dir: req.upper, lowers: req.lowers } };
  w.child.stdin!.write(frame(FrameType.Job, Buffer.from(JSON.stringify(job))));
  return { done, abort: () => stop(new CtrError(`unpacking ${what} was aborted`)) };
}

/**
 * One job's frames into a worker's stdin, which outlives the job: pipeline() into stdin itself
 * with end: false leaves listeners on it per job (Node warns from the 11th layer on).
 */
function intoWorker(stdin: Writable): Writable {
  const gone = () => Object.assign(new Error('the unpack worker stopped reading'), { code: 'EPIPE' });
  return new Writable({
    highWaterMark: 0,
    write(chunk: Buffer, _enc, cb) {
      if (stdin.destroyed) return cb(gone());
      if (stdin.write(chunk)) return cb();
      const settle = (err?: Error) => {
        stdin.off('drain', drained);
        stdin.off('close', closed);
        cb(err);
      };
      const drained = () => settle();
      const closed = () => settle(gone());
      stdin.once('drain', drained);
      stdin.once('close', closed);
    },
  });
}

/**
 * Unpacks one layer in a worker process (`ctr __unpack`): inside the user namespace when
 * rootless, a plain child as root. The worker parses the tar and writes files; decompressing
 * and hashing the tar happen here, or in the worker with decompressInWorker.
 */
export function startUnpack(req: UnpackRequest): LayerUnpack {
  const w = acquireWorker(req.mapping);
  const { done, stop, what } = awaitJob(w, req);
  const input = new PassThrough({ highWaterMark: 1 << 20 });
  // A failure after the writer finished (a short blob that is not a layer) is reported by done.
  input.on('error', () => {});
  const feed = async (): Promise<string | undefined> => {
    let compression: Compression = 'none';
    const stdin = w.child.stdin!;
    try {
      if (req.decompressInWorker) {
        stdin.write(frame(FrameType.Job, Buffer.from(JSON.stringify({ dest: req.dest } satisfies UnpackJob))));
        await pipeline(input, new DataFramer(), intoWorker(stdin));
        stdin.write(frame(FrameType.End));
        return undefined;
      }
      stdin.write(frame(FrameType.Job, Buffer.from(JSON.stringify({ dest: req.dest, expectedDiffId: req.diffId } satisfies UnpackJob))));
      const opened = await openDecompressed(input, req.mediaType);
      compression = opened.compression;
      const hash = createHash('sha256');
      const tap = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          hash.update(chunk);
          cb(null, chunk);
        },
      });
      await pipeline(opened.tar, tap, new DataFramer(), intoWorker(stdin));
      stdin.write(frame(FrameType.End));
      return `sha256:${hash.digest('hex')}`;
    } catch (err) {
      // The worker may have stopped first (a full disk, a bad tar): its reason is the real one.
      // A broken pipe means it is going; otherwise it may still be waiting for input.
      const code = (err as { code?: string }).code;
      const workerGoing = w.dead || code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ERR_STREAM_PREMATURE_CLOSE';
      const workerFailure = await Promise.race([done.then(() => undefined, (e: unknown) => e), sleep(workerGoing ? 30_000 : 500, undefined, { ref: false })]);
      if (workerFailure) throw workerFailure;
      const reason = describeDecompressError(err, compression);
      const failure = reason instanceof CtrError ? reason : new CtrError(`cannot unpack ${what}: ${errorMessage(reason)}`);
      stop(failure);
      throw failure;
    }
  };
  const fed = feed();
  fed.catch((err: unknown) => input.destroy(err as Error));
  // The diff_id is what this process hashed, if it did; the worker may only have been told it.
  const verified = Promise.all([done, fed]).then(([result, diffId]) => ({ ...result, diffId: diffId ?? result.diffId }));
  verified.catch(() => {});

  return {
    input,
    done: verified,
    abort() {
      stop(new CtrError(`unpacking ${what} was aborted`));
    },
  };
}

/** rm -rf that also works on files owned by subordinate ids (removed inside the namespace). */
export async function removeTree(path: string, mapping: IdMapping): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
    return;
  } catch (err) {
    if (mapping.mode === 'root') throw new CtrError(`cannot remove ${path}: ${errorMessage(err)}`);
  }
  const child = spawnInUserNamespace(mapping, ['rm', '-rf', '--', path], { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr: Buffer[] = [];
  child.stderr!.on('data', (d: Buffer) => stderr.push(d));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  await child.ready;
  if (code !== 0) throw new CtrError(`cannot remove ${path} inside the user namespace: ${Buffer.concat(stderr).toString().trim() || `rm exited with ${code}`}`);
}

const READ_CHUNK = 1 << 20;

/** A reader's tar as a stream of 1 MiB chunks, one at a time (a deeper buffer would be concatenated on read). */
function readerStream(open: () => TarSplitReader): Readable {
  let reader: TarSplitReader | undefined;
  return new Readable({
    highWaterMark: 0,
    read() {
      try {
        reader ??= open();
        const buf = Buffer.allocUnsafe(READ_CHUNK);
        const n = reader.read(buf);
        this.push(n === 0 ? null : buf.subarray(0, n));
      } catch (err) {
        this.destroy(err as Error);
      }
    },
    destroy(err, cb) {
      reader?.close();
      cb(err);
    },
  });
}

/** The layer's reader when this process may open every file the tar needs, else undefined. */
function readableHere(layerDir: string): TarSplitReader | undefined {
  try {
    const reader = new TarSplitReader(layerDir);
    for (const file of reader.files()) accessSync(file, constants.R_OK);
    return reader;
  } catch {
    return undefined;
  }
}

/**
 * The exact uncompressed layer tar, rebuilt from layerDir/diff and layerDir/tar-split. Rootless,
 * files may be unreadable to the user's own uid (mode 0600 owned by a subuid): then a worker
 * (`ctr __reassemble`) reads them inside the user namespace. Usually every file is readable (the
 * container's root is the user) and this process reads them itself: no Node start-up, no pipe.
 */
export function reassembleLayer(layerDir: string, mapping: IdMapping = detectIdMapping()): Readable {
  if (mapping.mode === 'root') return readerStream(() => new TarSplitReader(layerDir));
  const here = readableHere(layerDir);
  return here ? readerStream(() => here) : reassembleInWorker(layerDir, mapping);
}

function reassembleInWorker(layerDir: string, mapping: IdMapping): Readable {
  const child = spawnInUserNamespace(mapping, [...selfCommand(), '__reassemble', layerDir], {
    selfWaits: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const stderr: Buffer[] = [];
  child.stderr!.on('data', (d: Buffer) => stderr.push(d));
  child.stdout!.pipe(out, { end: false });
  child.on('error', (err) => out.destroy(new CtrError(`cannot start the worker that reads ${layerDir}: ${err.message}`)));
  child.ready.catch((err: unknown) => out.destroy(err as Error));
  child.on('close', (code, signal) => {
    if (code === 0) out.end();
    else {
      const reason = lastLine(Buffer.concat(stderr).toString()) || (signal ? `killed by ${signal}` : `exit code ${code}`);
      out.destroy(new CtrError(`cannot read the layer in ${layerDir}: ${reason}`));
    }
  });
  out.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return out;
}
