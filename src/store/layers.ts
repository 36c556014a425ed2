import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomHex } from '../random.js';
import { errnoCode } from '../errors.js';
import { parseDigest } from '../image/digest.js';
import { fsyncDir, writeJsonAtomic } from './atomic.js';
import { acquireLock, tryLock, type Lock } from './lock.js';

/** What the store knows of one unpacked layer, kept in layer.json beside diff/. */
export interface LayerRecord {
  diffId: string;
  /** Bytes of the uncompressed layer tar. */
  size: number;
  /** Compressed forms this layer was seen as (from pulls): lets a push skip blobs a registry has. */
  compressed: { digest: string; size: number; mediaType: string; repositories?: string[] }[];
  created: string;
}

/** Removes a directory tree that may hold files owned by subordinate ids (injected by the engine). */
export type TreeRemover = (path: string) => Promise<void>;

/** A layer being unpacked: fill `dir`, then commit it under its diff_id, or abort. */
export interface LayerIngest {
  /** An empty directory; after commit it is the layer directory (diff/, tar-split, ...). */
  dir: string;
  commit(record: Omit<LayerRecord, 'created'>): void;
  abort(): Promise<void>;
}

/**
 * Layers unpacked once per diff_id, shared by every image (layers/<hex>/diff is an overlay
 * lowerdir). A layer directory gets its name only when complete; deletion renames it away first.
 */
export class LayerStore {
  private readonly tmpDir: string;
  private readonly trashDir: string;
  private readonly lockDir: string;

  constructor(
    private readonly dir: string,
    private readonly remover: TreeRemover,
  ) {
    this.tmpDir = join(dir, '.tmp');
    this.trashDir = join(dir, '.trash');
    this.lockDir = join(dir, '.locks');
    for (const d of [dir, this.tmpDir, this.trashDir, this.lockDir]) mkdirSync(d, { recursive: true, mode: 0o700 });
  }

  path(diffId: string): string {
    return join(this.dir, parseDigest(diffId, 'diff_id').hex);
  }

  diffPath(diffId: string): string {
    return join(this.path(diffId), 'diff');
  }

  has(diffId: string): boolean {
    return existsSync(join(this.path(diffId), 'layer.json'));
  }

  get(diffId: string): LayerRecord | undefined {
    try {
      return JSON.parse(readFileSync(join(this.path(diffId), 'layer.json'), 'utf8')) as LayerRecord;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  list(): LayerRecord[] {
    const out: LayerRecord[] = [];
    for (const name of readdirSync(this.dir)) {
      if (!/^[a-f0-9]{64}$/.test(name)) continue;
      const rec = this.get(`sha256:${name}`);
      if (rec) out.push(rec);
    }
    return out;
  }

  /** Adds a compressed form, or repositories (host/path) known to hold it, to what is known of a layer. */
  noteCompressed(diffId: string, form: LayerRecord['compressed'][number]): void {
    const rec = this.get(diffId);
    if (!rec) return;
    const known = rec.compressed.find((c) => c.digest === form.digest);
    const added = (form.repositories ?? []).filter((r) => !known?.repositories?.includes(r));
    if (known && added.length === 0) return;
    if (known) known.repositories = [...(known.repositories ?? []), ...added];
    else rec.compressed.push(form);
    writeJsonAtomic(join(this.path(diffId), 'layer.json'), rec);
  }

  /**
   * Serialises work on one diff_id across processes: a second pull of the same layer waits
   * here, then finds it present.
   */
  lockLayer(diffId: string, signal?: AbortSignal): Promise<Lock> {
    return acquireLock(join(this.lockDir, parseDigest(diffId, 'diff_id').hex), { signal });
  }

  /** A fresh temp directory, held by a lock so that cleanup of stale ones never takes it. */
  async begin(expectedDiffId?: string): Promise<LayerIngest> {
    const id = randomHex(8);
    const dir = join(this.tmpDir, id);
    const lock = await acquireLock(join(this.tmpDir, `${id}.lock`));
    mkdirSync(dir, { mode: 0o700 });
    const finish = () => {
      lock.release();
      rmSync(join(this.tmpDir, `${id}.lock`), { force: true });
    };
    return {
      dir,
      commit: (record) => {
        if (expectedDiffId && record.diffId !== expectedDiffId) throw new Error(`internal: committing ${record.diffId} as ${expectedDiffId}`);
        const full: LayerRecord = { ...record, created: new Date().toISOString() };
        writeJsonAtomic(join(dir, 'layer.json'), full);
        const target = this.path(record.diffId);
        if (existsSync(target)) {
          // Someone else committed the same content meanwhile; ours goes to the trash.
          renameSync(dir, join(this.trashDir, id));
        } else {
          renameSync(dir, target);
          fsyncDir(this.dir);
        }
        finish();
      },
      abort: async () => {
        try {
          renameSync(dir, join(this.trashDir, id));
        } catch (err) {
          if (errnoCode(err) !== 'ENOENT') throw err;
        }
        finish();
        await this.emptyTrash();
      },
    };
  }

  /** Removes a layer: it disappears at once (rename), then its files are deleted. */
  async remove(diffId: string): Promise<void> {
    const src = this.path(diffId);
    const dest = join(this.trashDir, `${parseDigest(diffId).hex}-${randomHex(4)}`);
    try {
      renameSync(src, dest);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw err;
    }
    await this.remover(dest);
  }

  /** Deletes what interrupted commands left: temp dirs no live process holds, and the trash. */
  async cleanup(): Promise<void> {
    for (const name of readdirSync(this.tmpDir)) {
      if (name.endsWith('.lock')) continue;
      const lock = tryLock(join(this.tmpDir, `${name}.lock`));
      if (!lock) continue;
      try {
        renameSync(join(this.tmpDir, name), join(this.trashDir, name));
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err;
      }
      lock.release();
      rmSync(join(this.tmpDir, `${name}.lock`), { force: true });
    }
    for (const name of readdirSync(this.tmpDir)) {
      if (name.endsWith('.lock') && !existsSync(join(this.tmpDir, name.slice(0, -5)))) {
        const lock = tryLock(join(this.tmpDir, name));
        if (lock) {
          rmSync(join(this.tmpDir, name), { force: true });
          lock.release();
        }
      }
    }
    await this.emptyTrash();
  }

  /** Best effort: another ctr may be emptying the same trash; what is left goes next time. */
  private async emptyTrash(): Promise<void> {
    for (const name of readdirSync(this.trashDir)) {
      await this.remover(join(this.trashDir, name)).catch(() => {});
    }
  }
}
