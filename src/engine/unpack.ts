import { rm } from 'node:fs/promises';
import { PassThrough, Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeDecompressError, openDecompressed, type Compression } from '../archive/unpack.js';
import { reassembleTar } from '../archive/tarsplit.js';
import { CtrError, errorMessage } from '../errors.js';
import { detectIdMapping, maxContainerId, type IdMapping } from '../runtime/idmap.js';
import { selfCommand } from '../runtime/self.js';
import { spawnInUserNamespace, type NamespacedChild } from '../runtime/userns.js';

export interface UnpackRequest {
  /** The layer directory to fill (exists, empty): diff/ and tar-split are written in it. */
  dest: string;
  mapping: IdMapping;
  /** The layer's media type (gzip, zstd or none); the worker also sniffs the magic bytes. */
  mediaType: string;
  /** How messages name the layer, e.g. its digest. */
  name?: string;
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

/** The reply the `ctr __unpack` worker prints as one JSON line on stdout. */
export type UnpackReply = ({ ok: true } & UnpackResult) | { ok: false; error: string };

function workerArgs(req: UnpackRequest): string[] {
  const { mapping } = req;
  const ownership = mapping.mode === 'root' ? 'root' : mapping.mode === 'rootless' ? 'userns' : 'single';
  return [
    '__unpack',
    '--dest', req.dest,
    // The worker gets the tar already decompressed (see startUnpack).
    '--media-type', 'application/vnd.oci.image.layer.v1.tar',
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

/**
 * Starts unpacking one layer in a worker process (`ctr __unpack`): inside the user namespace
 * when rootless, a plain child as root, so decompression and file writes use another core.
 */
export function startUnpack(req: UnpackRequest): LayerUnpack {
  const what = req.name ? `layer ${req.name}` : 'the layer';
  const child: NamespacedChild = spawnInUserNamespace(req.mapping, [...selfCommand(), ...workerArgs(req)], {
    selfWaits: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let aborted = false;
  let failure: Error | undefined;
  let exited = false;
  let feedFailure: Error | undefined;
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => stdout.push(d));
  child.stderr!.on('data', (d: Buffer) => stderr.push(d));
  child.stdin!.on('error', () => {});

  const done = new Promise<UnpackResult>((resolve, reject) => {
    const settle = (err: Error | undefined, result?: UnpackResult) => {
      exited = true;
      failure = err;
      if (err) reject(err);
      else resolve(result!);
    };
    child.on('error', (err) => settle(new CtrError(`cannot start the unpack worker for ${what}: ${err.message}`)));
    child.ready.catch((err: unknown) => settle(err instanceof CtrError ? err : new CtrError(errorMessage(err))));
    child.on('close', (code, signal) => {
      if (exited) return;
      if (aborted) return settle(feedFailure instanceof CtrError ? feedFailure : new CtrError(`unpacking ${what} was aborted`));
      let reply: UnpackReply | undefined;
      try {
        reply = JSON.parse(lastLine(Buffer.concat(stdout).toString())) as UnpackReply;
      } catch {
        reply = undefined;
      }
      if (code === 0 && reply?.ok) return settle(undefined, { diffId: reply.diffId, size: reply.size, notices: reply.notices });
      const reason =
        reply && !reply.ok
          ? reply.error
          : `the worker ${signal ? `was killed by ${signal}` : `exited with code ${code}`}${stderr.length ? `: ${lastLine(Buffer.concat(stderr).toString())}` : ''}`;
      settle(new CtrError(`cannot unpack ${what}: ${reason}`));
    });
  });
  done.catch(() => {});

  // Decompression runs here, on zlib's threads of this otherwise idle process: the worker's
  // single thread is the bottleneck of a pull, so it only parses the tar and writes files.
  const input = new PassThrough({ highWaterMark: 1 << 20 });
  const feed = async () => {
    let compression: Compression = 'none';
    try {
      const opened = await openDecompressed(input, req.mediaType);
      compression = opened.compression;
      await pipeline(opened.tar, child.stdin!);
    } catch (err) {
      // The worker may have stopped first (a full disk, a bad tar): its reason is the real one.
      const workerFailure = await Promise.race([done.then(() => undefined, (e: unknown) => e), sleep(2000)]);
      if (workerFailure) throw workerFailure;
      const reason = describeDecompressError(err, compression);
      feedFailure = reason instanceof CtrError ? reason : new CtrError(`cannot unpack ${what}: ${errorMessage(reason)}`);
      aborted = true;
      child.kill('SIGKILL');
      throw feedFailure;
    }
  };
  feed().catch((err: unknown) => input.destroy(err as Error));

  return {
    input,
    done,
    abort() {
      if (exited) return;
      aborted = true;
      child.kill('SIGKILL');
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

/**
 * The exact uncompressed layer tar, rebuilt from layerDir/diff and layerDir/tar-split.
 * Rootless, files may be unreadable to the user's own uid (mode 0600 owned by a subuid),
 * so the reading happens in a worker (`ctr __reassemble`) inside the user namespace.
 */
export function reassembleLayer(layerDir: string, mapping: IdMapping = detectIdMapping()): Readable {
  if (mapping.mode === 'root') return Readable.from(reassembleTar(layerDir), { objectMode: false });
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
