import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, constants, lstatSync, mkdirSync, openSync, readlinkSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve as resolvePath } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { CopyError, CopyExtractor, packTree, type CopyOwnership } from '../archive/copy-tar.js';
import {
  assertsDirectory,
  cleanContainerPath,
  CopyRuleError,
  parseCopyArg,
  planCopy,
  specifiesCurrentDir,
  splitPathDirEntry,
  type CopyPlan,
  type DestinationInfo,
  type SourceInfo,
} from '../archive/cp.js';
import { at, makeDir, O_PATH, Scope, ScopeError, type Resolved } from '../archive/scope.js';
import { byteString, displayName, TarParser, TarType, type TarHeader, type TarSink } from '../archive/tar.js';
import { TarWriter } from '../archive/tar-writer.js';
import { CtrError, errnoCode, errorMessage } from '../errors.js';
import { inContainerUserNamespace } from '../runtime/nsenter.js';
import { selfCommand } from '../runtime/self.js';
import { spawnInUserNamespace } from '../runtime/userns.js';
import type { ContainerRecord } from '../store/containers.js';
import { findContainer, reconcile } from './containers.js';
import { openEngine, type Engine, type EngineOptions } from './context.js';
import { containerSpec } from './start.js';
import { containerInitPid, isRunning } from './top.js';

export interface CopyOptions extends EngineOptions {
  /** CONTAINER:PATH, a local path, or - (a tar on stdin). */
  source: string;
  /** CONTAINER:PATH, a local path, or - (a tar to stdout). */
  destination: string;
  /** -a: keep the source's uid/gid (default: copies into a container belong to its root). */
  archive?: boolean;
  /** -L: when the source is a symlink, copy what it points to. */
  followLink?: boolean;
  stdin?: Readable;
  stdout?: Writable;
}

/** `ctr cp`: between a container (running or not) and this machine, with docker's path rules. */
export async function copyFiles(opts: CopyOptions): Promise<void> {
  const src = parseCopyArg(opts.source);
  const dst = parseCopyArg(opts.destination);
  if (src.kind === 'container' && dst.kind === 'container') throw new CtrError('copying between containers is not supported: copy to this machine first, then into the other container');
  if (src.kind === 'local' && dst.kind === 'local') throw new CtrError('ctr cp copies between a container and this machine: write the container side as CONTAINER:PATH');
  const engine = openEngine(opts);
  const side = src.kind === 'container' ? src : (dst as Extract<typeof dst, { kind: 'container' }>);
  const rec = findContainer(await reconcile(engine.store), side.container);
  if (!rec) throw new CtrError(`no such container: ${side.container}`);
  const path = side.path === '' ? '/' : side.path;
  if (src.kind === 'container') {
    await copyOut(engine, rec, path, dst.path, opts);
  } else {
    if ((rec.config as { readOnly?: boolean }).readOnly) throw new CtrError(`container ${rec.name} has a read-only root file system (--read-only): nothing can be copied into it`);
    await copyIn(engine, rec, src.path, path, opts);
  }
}

async function copyOut(engine: Engine, rec: ContainerRecord, path: string, local: string, opts: CopyOptions): Promise<void> {
  const args = ['--out', path, ...(opts.followLink ? ['--follow'] : [])];
  if (local === '-') {
    const stdout = opts.stdout ?? process.stdout;
    await withWorker(engine, rec, args, async (child) => {
      await pipeTo(child.stdout!, stdout);
    });
    return;
  }
  const dst = hostDestination(local);
  const ownership: CopyOwnership = opts.archive && engine.mapping.mode === 'root' ? { kind: 'keep' } : { kind: 'none' };
  await withWorker(engine, rec, args, async (child) => {
    const sink = new HostExtractSink(dst, ownership);
    const parser = new TarParser(sink);
    try {
      for await (const chunk of child.stdout! as AsyncIterable<Buffer>) parser.write(chunk);
      parser.end();
      sink.finish();
    } catch (err) {
      sink.close();
      child.kill('SIGKILL');
      throw err instanceof CtrError ? err : new CtrError(`cannot copy to ${sink.where || local}: ${describe(err)}`);
    }
    sink.close();
  });
}

async function copyIn(engine: Engine, rec: ContainerRecord, local: string, path: string, opts: CopyOptions): Promise<void> {
  const archive = opts.archive ? ['--archive'] : [];
  if (local === '-') {
    const stdin = opts.stdin ?? process.stdin;
    try {
      await withWorker(engine, rec, ['--in', path, '--stream', ...archive], async (child) => {
        await pipeTo(stdin, child.stdin!);
      });
    } finally {
      // Input the worker never took (it failed) must not keep this process waiting.
      if (!stdin.readableEnded) stdin.destroy();
    }
    return;
  }
  const source = hostSource(local, opts.followLink === true);
  try {
    const args = ['--in', path, '--src-name', source.info.name, ...(source.info.isDir ? ['--src-dir'] : []), ...archive];
    await withWorker(engine, rec, args, async (child) => {
      const writer = new TarWriter(child.stdin!);
      await packTree(writer, source.resolved, byteString(source.info.name));
      await writer.finish();
    });
  } finally {
    closeSync(source.resolved.dirFd);
  }
}

/** Where `ctr cp` reads a local source: its parent directories resolved, its last component too with -L. */
function hostSource(local: string, follow: boolean): { info: SourceInfo; resolved: Resolved } {
  const abs = resolvePath(local);
  let target: string;
  try {
    target = follow ? realpathSync(abs) : join(realpathSync(dirname(abs)), basename(abs));
  } catch (err) {
    throw new CtrError(`cannot copy ${local}: ${errnoCode(err) === 'ENOENT' ? 'no such file or directory' : describe(err)}`);
  }
  let st;
  try {
    st = lstatSync(target);
  } catch (err) {
    throw new CtrError(`cannot copy ${local}: ${errnoCode(err) === 'ENOENT' ? 'no such file or directory' : describe(err)}`);
  }
  if (assertsDirectory(local) && !st.isDirectory()) throw new CtrError(`cannot copy ${local}: it is not a directory`);
  const name = specifiesCurrentDir(local) ? '.' : abs === '/' ? '.' : basename(abs);
  const dirFd = openSync(target === '/' ? '/' : dirname(target), O_PATH | constants.O_DIRECTORY);
  return { info: { isDir: st.isDirectory(), name }, resolved: { dirFd, name: target === '/' ? '.' : byteString(basename(target)), path: byteString(target) } };
}

/** docker's CopyInfoDestinationPath: a symlink at the destination is followed; a new path needs its parent. */
function hostDestination(local: string): DestinationInfo {
  let path = local;
  for (let n = 0; ; n++) {
    let st;
    try {
      st = lstatSync(path);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw new CtrError(`cannot copy to ${local}: ${describe(err)}`);
      const parent = splitPathDirEntry(path).dir;
      let pst;
      try {
        pst = statSync(parent);
      } catch {
        throw new CtrError(`cannot copy to ${local}: the directory ${parent} does not exist`);
      }
      if (!pst.isDirectory()) throw new CtrError(`cannot copy to ${local}: ${parent} is not a directory`);
      return { path, exists: false, isDir: false };
    }
    if (!st.isSymbolicLink()) return { path, exists: true, isDir: st.isDirectory() };
    if (n >= 10) throw new CtrError(`cannot copy to ${local}: too many symbolic links`);
    const link = readlinkSync(path);
    path = link.startsWith('/') ? link : join(splitPathDirEntry(path).dir, link);
  }
}

/** Unpacks a container's tar on this machine once its first member tells what the source is. */
class HostExtractSink implements TarSink {
  private extractor: CopyExtractor | undefined;
  private scope: Scope | undefined;

  constructor(
    private readonly dst: DestinationInfo,
    private readonly ownership: CopyOwnership,
  ) {}

  raw(): void {}

  entry(h: TarHeader): void {
    if (!this.extractor) {
      const name = h.name.replace(/\/+$/, '') || '.';
      let plan: CopyPlan;
      try {
        plan = planCopy({ isDir: h.type === TarType.Directory, name }, this.dst);
      } catch (err) {
        throw err instanceof CopyRuleError ? new CtrError(err.message) : err;
      }
      // The plan's directory is a path of this machine (text); the new name, like the members', a byte string.
      this.scope = new Scope(plan.dir);
      const rebase = plan.rebase && { from: plan.rebase.from, to: byteString(plan.rebase.to) };
      this.extractor = new CopyExtractor({ scope: this.scope, plan: { dir: '/', rebase }, ownership: this.ownership });
    }
    this.extractor.entry(h);
  }

  data(bytes: Buffer): void {
    this.extractor?.data(bytes);
  }

  entryEnd(): void {
    this.extractor?.entryEnd();
  }

  finish(): void {
    this.extractor?.finish();
  }

  close(): void {
    this.extractor?.close();
    this.scope?.close();
  }

  get where(): string {
    return this.extractor?.where ?? '';
  }
}

function pipeTo(from: Readable, to: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    from.on('error', reject);
    to.on('error', reject);
    from.on('end', resolve);
    from.pipe(to);
  });
}

/** A mount of the container to set up over its root before a stopped container's files are copied. */
export interface RootMount {
  source: string;
  destination: string;
  readOnly: boolean;
}

/**
 * Runs the copy worker where the container's files are: in a running container's user namespace
 * on /proc/PID/root, or with a stopped one's overlay (and volumes) mounted in a private mount
 * namespace. `use` feeds or drains it; its failure message wins over a broken pipe.
 */
async function withWorker(engine: Engine, rec: ContainerRecord, args: string[], use: (child: ChildProcess) => Promise<void>): Promise<void> {
  const base = [...selfCommand(), '__cp', '--container', rec.name, ...args];
  if (isRunning(rec)) {
    const pid = containerInitPid(rec);
    const argv = inContainerUserNamespace(engine.mapping, pid, [...base, '--root', `/proc/${pid}/root`]);
    await supervise(spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] }), use);
    return;
  }
  const { spec } = containerSpec(engine, rec);
  const root = spec.mounts.find((m) => m.destination === '/' && m.type === 'overlay');
  if (!root) throw new CtrError(`cannot copy with container ${rec.name}: its root file system is not an overlay`);
  const binds: RootMount[] = spec.mounts
    .filter((m) => m.type === 'bind' && m.source && !/^\/(proc|sys|dev)(\/|$)/.test(m.destination))
    .map((m) => ({ source: m.source!, destination: m.destination, readOnly: (m.options ?? []).includes('ro') }));
  await engine.store.withScratchDir(async (dir) => {
    const mountpoint = join(dir, 'root');
    mkdirSync(mountpoint);
    const argv = [...base, '--root', mountpoint, '--overlay', (root.options ?? []).join(','), '--binds', JSON.stringify(binds)];
    const child = spawnInUserNamespace(engine.mapping, argv, { selfWaits: true, mountNamespace: true, stdio: ['pipe', 'pipe', 'pipe'] });
    await supervise(child, use, child.ready);
  });
}

async function supervise(child: ChildProcess, use: (child: ChildProcess) => Promise<void>, ready?: Promise<void>): Promise<void> {
  const stderr: Buffer[] = [];
  child.stderr!.on('data', (d: Buffer) => stderr.push(d));
  child.stdin!.on('error', () => {});
  const exit = new Promise<number>((resolve, reject) => {
    child.on('error', (e) => reject(new CtrError(`cannot start the copy worker: ${e.message}`)));
    child.on('close', (code, signal) => resolve(code ?? 128 + (signal ? 9 : 0)));
  });
  exit.catch(() => {});
  let failure: unknown;
  const used = (async () => {
    await ready;
    await use(child);
  })().catch((err: unknown) => {
    failure = err;
  });
  // A worker that failed early (a missing path) ends the copy even while input is still waiting.
  const first = await Promise.race([used.then(() => 'used' as const), exit.then((code) => (code === 0 ? ('ok' as const) : ('failed' as const)))]);
  if (first !== 'failed') await used;
  const code = await exit;
  const message = Buffer.concat(stderr).toString().trim().split('\n').at(-1);
  // Our own failure wins when we stopped the worker for it; otherwise the worker's reason does.
  if (code !== 0 && !(failure && child.killed)) throw new CtrError(message || `the copy worker exited with code ${code}`);
  if (failure) throw failure instanceof CtrError ? failure : new CtrError(describe(failure));
}

/** A system error as a person reads it: "permission denied" rather than "EACCES: permission denied, open '/proc/self/fd/...'". */
function describe(err: unknown): string {
  if (err instanceof ScopeError || err instanceof CopyError || err instanceof CopyRuleError) return err.message;
  const m = /^[A-Z]+: ([^,]+)/.exec(errorMessage(err));
  return m ? m[1]! : errorMessage(err);
}

export interface WorkerPlace {
  /** The container's root as the worker sees it. */
  root: string;
  container: string;
}

/** Worker side: mounts a stopped container's overlay on root, then its volumes and bind mounts that have a place there. */
export function mountContainerRoot(root: string, overlayOptions: string, binds: RootMount[]): void {
  const mount = (args: string[]) => {
    const r = spawnSync('mount', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new CtrError(`cannot mount the container's files (mount ${args.join(' ')}): ${(r.stderr || r.error?.message || '').trim()}`);
  };
  mount(['-t', 'overlay', 'overlay', '-o', overlayOptions, root]);
  const scope = new Scope(root);
  try {
    for (const b of binds) {
      // Made where missing, as the runtime makes them when the container starts.
      let target: Resolved;
      try {
        target = scope.resolve(byteString(b.destination), { followFinal: true, mkdir: makeDir });
        if (!Scope.lstat(target)) {
          if (statSync(b.source).isDirectory()) mkdirSync(at(target.dirFd, target.name), 0o755);
          else writeFileSync(at(target.dirFd, target.name), '', { flag: 'wx', mode: 0o644 });
        }
      } catch {
        continue;
      }
      closeSync(target.dirFd);
      const where = join(root, displayName(target.path));
      mount(['--bind', b.source, where]);
      if (b.readOnly) mount(['-o', 'remount,bind,ro', where]);
    }
  } finally {
    scope.close();
  }
}

/** Worker side of copying out: a tar of the container's path on `out`, named as docker names it. */
export async function copyOutOf(place: WorkerPlace, path: string, follow: boolean, out: Writable): Promise<void> {
  const scope = new Scope(place.root);
  try {
    // A trailing slash or /. means the directory itself: a symlink there is followed.
    const r = scope.resolve(byteString(path), { followFinal: follow || assertsDirectory(path) });
    try {
      const st = Scope.lstat(r);
      if (!st) throw new CtrError(`Could not find the file ${path} in container ${place.container}`);
      if (assertsDirectory(path) && !st.isDirectory()) throw new CtrError(`${path} in container ${place.container} is not a directory`);
      const clean = cleanContainerPath(path);
      const name = specifiesCurrentDir(path) || clean === '/' ? '.' : byteString(basename(clean));
      const writer = new TarWriter(out);
      await packTree(writer, r, name);
      await writer.finish();
    } finally {
      closeSync(r.dirFd);
    }
  } catch (err) {
    throw workerError(err, place, path);
  } finally {
    scope.close();
  }
}

/**
 * Worker side of copying in: unpacks the tar on `input` at the container's path by docker's rules
 * (source undefined: a user's tar stream, unpacked into that directory as it is). Files belong to
 * the container's root unless `archive` keeps the ids of the tar.
 */
export async function copyInto(place: WorkerPlace, path: string, source: SourceInfo | undefined, archive: boolean, input: Readable): Promise<void> {
  const scope = new Scope(place.root);
  let extractor: CopyExtractor | undefined;
  try {
    const dest = `${place.container}:${path}`;
    let plan: CopyPlan;
    // Paths inside the container are byte strings from here on (the tar's names are).
    const inside = byteString(path);
    if (!source) {
      const info = destination(scope, inside);
      if (!info.exists) throw new CtrError(`Could not find the file ${path} in container ${place.container}`);
      if (!info.isDir) throw new CtrError(`destination "${dest}" must be a directory`);
      plan = { dir: info.path };
    } else {
      const info = destination(scope, inside);
      try {
        plan = planCopy({ ...source, name: byteString(source.name) }, info);
      } catch (err) {
        // Its message names the byte-string path.
        throw err instanceof CopyRuleError ? new CtrError(displayName(err.message)) : err;
      }
    }
    const dir = scope.resolve(plan.dir, { followFinal: true });
    const dirStat = Scope.lstat(dir);
    closeSync(dir.dirFd);
    if (!dirStat) throw new CtrError(`Could not find the file ${displayName(plan.dir)} in container ${place.container}`);
    if (!dirStat.isDirectory()) throw new CtrError(`${displayName(plan.dir)} in container ${place.container} is not a directory`);
    extractor = new CopyExtractor({ scope, plan, ownership: archive ? { kind: 'keep' } : { kind: 'fixed', uid: 0, gid: 0 } });
    const parser = new TarParser(extractor);
    for await (const chunk of input as AsyncIterable<Buffer>) parser.write(chunk);
    parser.end();
    extractor.finish();
  } catch (err) {
    throw workerError(err, place, extractor?.where || path);
  } finally {
    scope.close();
  }
}

/** What is at a container path (a byte string) for a copy into it: a symlink there is followed inside the container. */
function destination(scope: Scope, path: string): DestinationInfo {
  let r = scope.resolve(path, { followFinal: assertsDirectory(path) });
  try {
    let st = Scope.lstat(r);
    if (st?.isSymbolicLink()) {
      closeSync(r.dirFd);
      r = scope.resolve(path, { followFinal: true });
      st = Scope.lstat(r);
    }
    if (!st) return { path: `${cleanContainerPath(path)}${assertsDirectory(path) && path !== '/' ? '/' : ''}`, exists: false, isDir: false };
    if (!st.isDirectory() && !st.isFile()) throw new CtrError(`destination "${displayName(path)}" must be a directory or a regular file`);
    return { path: r.path, exists: true, isDir: st.isDirectory() };
  } finally {
    closeSync(r.dirFd);
  }
}

function workerError(err: unknown, place: WorkerPlace, path: string): Error {
  if (err instanceof CtrError) return err;
  if (err instanceof CopyRuleError) return new CtrError(err.message);
  if (err instanceof ScopeError && err.code === 'ENOENT') return new CtrError(`Could not find the file ${path} in container ${place.container}`);
  return new CtrError(`cannot copy ${path} in container ${place.container}: ${describe(err)}`);
}
