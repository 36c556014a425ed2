import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomHex } from '../random.js';
import { CtrError, errnoCode } from '../errors.js';
import { fsyncDir, writeJsonAtomic } from './atomic.js';
import type { TreeRemover } from './layers.js';
import { acquireLock, type Lock } from './lock.js';

/** docker's grammar for local volume names (two characters at least). */
export const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** The label docker (>= 23) puts on volumes made for one container; prune without -a takes only these. */
export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';

/** One volume as volume.json keeps it: docker's inspect fields, plus whether it is anonymous. */
export interface VolumeRecord {
  Name: string;
  Driver: 'local';
  /** The _data directory: the bind-mount source inside containers. */
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Options: Record<string, string>;
  Scope: 'local';
  anonymous: boolean;
}

export interface VolumeCreateOptions {
  /** Driver options (docker's --opt), kept for the run engine. */
  options?: Record<string, string>;
  /** Made for one container (image VOLUME, -v /path): removed with rm -v and --rm. */
  anonymous?: boolean;
}

export interface VolumeCreation {
  volume: VolumeRecord;
  /** False when a volume of that name existed already (create is idempotent). */
  created: boolean;
}

export function checkVolumeName(name: string): void {
  if (!VOLUME_NAME.test(name)) {
    throw new CtrError(
      `"${name}" is not a valid volume name: use at least two of [a-zA-Z0-9_.-], starting with a letter or digit; to mount a host directory, give an absolute path`,
    );
  }
}

/** Docker's CreatedAt: RFC 3339 in seconds. */
function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

/**
 * Volumes as docker lays them out: volumes/<name>/volume.json and volumes/<name>/_data. A volume
 * appears under its name only complete (built in .tmp, renamed); removal renames it into .trash
 * first, so a half-removed volume is never seen. Methods that decide on the set of volumes
 * (create, detach) must run with the store lock held; the engine takes it.
 */
export class VolumeStore {
  private readonly tmpDir: string;
  private readonly trashDir: string;

  constructor(
    private readonly dir: string,
    private readonly remover: TreeRemover,
  ) {
    this.tmpDir = join(dir, '.tmp');
    this.trashDir = join(dir, '.trash');
    for (const d of [dir, this.tmpDir, this.trashDir]) mkdirSync(d, { recursive: true, mode: 0o700 });
  }

  path(name: string): string {
    checkVolumeName(name);
    return join(this.dir, name);
  }

  dataPath(name: string): string {
    return join(this.path(name), '_data');
  }

  exists(name: string): boolean {
    return VOLUME_NAME.test(name) && existsSync(join(this.dir, name, 'volume.json'));
  }

  get(name: string): VolumeRecord | undefined {
    if (!VOLUME_NAME.test(name)) return undefined;
    let record: VolumeRecord;
    try {
      record = JSON.parse(readFileSync(join(this.dir, name, 'volume.json'), 'utf8')) as VolumeRecord;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    }
    // The store may have moved since the volume was made: the path is where it is now.
    return { ...record, Name: name, Mountpoint: this.dataPath(name) };
  }

  list(): VolumeRecord[] {
    const out: VolumeRecord[] = [];
    for (const name of readdirSync(this.dir).sort()) {
      const v = this.get(name);
      if (v) out.push(v);
    }
    return out;
  }

  /** Makes a volume, or returns the one of that name. No name: a fresh 64-hex one. Lock held. */
  create(name?: string, labels: Record<string, string> = {}, opts: VolumeCreateOptions = {}): VolumeCreation {
    const volumeName = name ?? randomHex(32);
    const target = this.path(volumeName);
    const existing = this.get(volumeName);
    if (existing) return { volume: existing, created: false };
    this.clearStaleTemp();
    const tmp = join(this.tmpDir, randomHex(8));
    mkdirSync(tmp, { mode: 0o700 });
    try {
      mkdirSync(join(tmp, '_data'), { mode: 0o755 });
      const record: VolumeRecord = {
        Name: volumeName,
        Driver: 'local',
        Mountpoint: join(target, '_data'),
        CreatedAt: now(),
        Labels: opts.anonymous ? { [ANONYMOUS_LABEL]: '', ...labels } : { ...labels },
        Options: { ...(opts.options ?? {}) },
        Scope: 'local',
        anonymous: opts.anonymous ?? false,
      };
      writeJsonAtomic(join(tmp, 'volume.json'), record);
      renameSync(tmp, target);
      fsyncDir(this.dir);
      return { volume: record, created: true };
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      // A directory of that name without volume.json (made by hand?) must not be taken over silently.
      if (errnoCode(err) === 'ENOTEMPTY' || errnoCode(err) === 'EEXIST') {
        throw new CtrError(`cannot create volume ${volumeName}: ${target} exists but is not a volume; remove it`);
      }
      throw err;
    }
  }

  /**
   * Takes a volume out of sight at once (renamed into the trash); returns the trash path to
   * purge() after the lock is released, or undefined when there was no such volume. Lock held.
   */
  detach(name: string): string | undefined {
    const src = this.path(name);
    if (!this.exists(name)) return undefined;
    const dest = join(this.trashDir, `${name}-${randomHex(4)}`);
    try {
      renameSync(src, dest);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    }
    fsyncDir(this.dir);
    return dest;
  }

  /** Deletes a detached volume's files, which may belong to subordinate ids. */
  purge(trashPath: string): Promise<void> {
    return this.remover(trashPath);
  }

  /** Detach and purge in one: only for callers that hold no lock and made their decision already. */
  async remove(name: string): Promise<boolean> {
    const trash = this.detach(name);
    if (!trash) return false;
    await this.purge(trash);
    return true;
  }

  /** Whether the volume's data directory has nothing in it (docker copies image files only then). */
  isEmpty(name: string): boolean {
    return readdirSync(this.dataPath(name)).length === 0;
  }

  /** Serialises the copy of image files into one volume across processes (two containers starting at once). */
  lockVolume(name: string): Promise<Lock> {
    return acquireLock(join(this.path(name), 'volume.lock'));
  }

  /** Bytes of a volume's data (by name, or a detached volume's trash path); unreadable parts count as 0. */
  diskUsage(nameOrPath: string): number {
    const root = join(nameOrPath.startsWith('/') ? nameOrPath : this.path(nameOrPath), '_data');
    let total = 0;
    const seen = new Set<string>();
    const walk = (p: string) => {
      let st;
      try {
        st = lstatSync(p);
      } catch {
        return;
      }
      if (st.isDirectory()) {
        let names: string[] = [];
        try {
          names = readdirSync(p);
        } catch {
          return;
        }
        for (const n of names) walk(join(p, n));
        return;
      }
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        if (seen.has(key)) return;
        seen.add(key);
      }
      total += st.size;
    };
    walk(root);
    return total;
  }

  /** Removes what interrupted commands left in the trash (best effort: another ctr may be at it). */
  async emptyTrash(): Promise<void> {
    for (const name of readdirSync(this.trashDir)) {
      await this.remover(join(this.trashDir, name)).catch(() => {});
    }
  }

  /** With the store lock held nobody else is creating: anything in .tmp was left by a crash. */
  private clearStaleTemp(): void {
    for (const name of readdirSync(this.tmpDir)) {
      try {
        renameSync(join(this.tmpDir, name), join(this.trashDir, `tmp-${name}`));
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err;
      }
    }
  }
}
