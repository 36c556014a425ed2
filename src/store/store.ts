import { mkdirSync, mkdtempSync, readlinkSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { randomHex } from '../random.js';
import { CtrError, errnoCode } from '../errors.js';
import { parseDigest } from '../image/digest.js';
import { BlobStore } from './blobs.js';
import { ContainerIndex, type ContainerRecord } from './containers.js';
import { ImageIndex, type ImageRecord } from './images.js';
import { LayerStore, type TreeRemover } from './layers.js';
import { withLock } from './lock.js';
import { resolveLocation, type LocationOptions, type StoreLocation } from './paths.js';
import { VolumeStore } from './volumes.js';

export interface StoreOptions extends LocationOptions {
  /** Deletes trees that may hold files of subordinate ids (rootless: inside the user namespace). */
  remover: TreeRemover;
}

/**
 * Everything ctr keeps on disk. Paths and locks live here and nowhere else: callers use
 * these objects' verbs, never build paths of their own.
 */
export class Store {
  readonly location: StoreLocation;
  readonly blobs: BlobStore;
  readonly layers: LayerStore;
  readonly images: ImageIndex;
  readonly containers: ContainerIndex;
  readonly volumes: VolumeStore;
  private readonly lockPath: string;

  /** rm -rf for trees that may hold files of subordinate ids. */
  readonly removeTree: TreeRemover;

  private constructor(location: StoreLocation, remover: TreeRemover) {
    this.location = location;
    this.removeTree = remover;
    for (const [dir, what] of [
      [location.root, 'store directory (--root, CTR_ROOT)'],
      [location.runroot, 'run directory (--runroot, CTR_RUNROOT)'],
    ] as const) {
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
      } catch (err) {
        throw new CtrError(`cannot create the ${what} ${dir}: ${(err as Error).message.replace(/^[A-Z]+: /, '')}; choose a directory you can write`);
      }
    }
    this.blobs = new BlobStore(join(location.root, 'blobs'));
    this.layers = new LayerStore(join(location.root, 'layers'), remover);
    this.images = new ImageIndex(location.root);
    this.containers = new ContainerIndex(join(location.root, 'containers'));
    this.volumes = new VolumeStore(join(location.root, 'volumes'), remover);
    this.lockPath = join(location.root, 'store.lock');
  }

  static open(opts: StoreOptions): Store {
    return new Store(resolveLocation(opts), opts.remover);
  }

  /** Runs fn with the store's metadata lock held (short critical sections only). */
  locked<T>(fn: () => Promise<T> | T): Promise<T> {
    return withLock(this.lockPath, fn);
  }

  /**
   * Runs fn holding one container's runtime lock: between deleting the runtime's state of a
   * container and creating it again (start, and the exit command of the run before).
   */
  async withContainerLock<T>(id: string, fn: () => Promise<T> | T): Promise<T> {
    const dir = join(this.location.runroot, 'locks');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return withLock(join(dir, id), fn);
  }

  /** Forgets a removed container's runtime lock. */
  dropContainerLock(id: string): void {
    rmSync(join(this.location.runroot, 'locks', id), { force: true });
  }

  /** Runs fn with a private scratch directory on the store's file system, removed afterwards. */
  async withScratchDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
    const parent = join(this.location.root, 'tmp');
    mkdirSync(parent, { recursive: true, mode: 0o700 });
    const dir = mkdtempSync(join(parent, 'scratch-'));
    try {
      return await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Where a container's runtime bundle (config.json) lives: gone after a reboot, like the container process. */
  containerRunDir(id: string): string {
    return join(this.location.runroot, 'containers', id);
  }

  /** A short directory for unix sockets (their paths are limited to 107 bytes). */
  socketDir(): string {
    const dir = join(this.location.runroot, 's');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  /**
   * Where a container's monitor keeps what lives as long as the container runs: its attach
   * socket and control fifo (conmon's --socket-dir-path/<short id>/attach and bundle/ctl), its
   * pid file, and the exit file it writes when the container ends.
   */
  monitorPaths(id: string): { attachSocket: string; socketLink: string; control: string; exitFile: string; oomFile: string; conmonPid: string; pidFile: string } {
    const bundle = this.containerRunDir(id);
    const socketLink = join(this.socketDir(), id.slice(0, 12));
    return {
      attachSocket: join(socketLink, 'attach'),
      socketLink,
      control: join(bundle, 'ctl'),
      exitFile: join(bundle, 'exit'),
      oomFile: join(bundle, 'oom'),
      conmonPid: join(bundle, 'conmon.pid'),
      pidFile: join(bundle, 'pidfile'),
    };
  }

  /**
   * A short path to a layer's files (a symlink in the run directory, made on first use): an
   * overlay mount's options must fit in one page, which long store paths exhaust at ~35 layers.
   */
  shortLayerPath(diffId: string): string {
    const target = this.layers.diffPath(diffId);
    const dir = join(this.location.runroot, 'l');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const hex = parseDigest(diffId, 'diff_id').hex;
    // Names as short as they can be: a clash with another layer's link takes a longer one.
    for (let len = 6; len <= hex.length; len += 4) {
      const link = join(dir, hex.slice(0, len));
      try {
        if (readlinkSync(link) === target) return link;
        continue;
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err;
      }
      const tmp = `${link}.${randomHex(4)}`;
      symlinkSync(target, tmp);
      renameSync(tmp, link);
      if (readlinkSync(link) === target) return link;
    }
    return target;
  }

  /** The OCI runtime's own state directory (runc --root) for this store. */
  runtimeStateDir(): string {
    return join(this.location.runroot, 'runtime');
  }

  /** Read-modify-write of the container index under the lock. */
  updateContainers<T>(fn: (containers: ContainerRecord[]) => T): Promise<T> {
    return this.locked(() => {
      const containers = this.containers.list();
      const result = fn(containers);
      this.containers.save(containers);
      return result;
    });
  }

  /** Read-modify-write of the image index under the lock. */
  updateImages<T>(fn: (images: ImageRecord[]) => T): Promise<T> {
    return this.locked(() => {
      const images = this.images.list();
      const result = fn(images);
      this.images.save(images);
      return result;
    });
  }
}
