import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireLock, tryLock } from '../../src/store/lock.js';

const dir = mkdtempSync(join(tmpdir(), 'ctr-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('file locks', () => {
  it('exclude each other, and free a lock on release', async () => {
    const path = join(dir, 'plain.lock');
    const a = tryLock(path)!;
    expect(a).not.toBeNull();
    expect(tryLock(path)).toBeNull();
    a.release();
    const b = await acquireLock(path);
    expect(tryLock(path)).toBeNull();
    b.release();
  });

  it('go to the file now at the path when the one waited for was deleted meanwhile', async () => {
    // A cleaner deletes a lock file its holder is done with while someone waits on it: the waiter
    // must lock the file at the path, or a third taker would get "the" lock too.
    const path = join(dir, 'deleted.lock');
    const holder = tryLock(path)!;
    const waiting = acquireLock(path);
    await new Promise((resolve) => setTimeout(resolve, 20));
    rmSync(path);
    holder.release();
    const waiter = await waiting;
    expect(statSync(path).isFile()).toBe(true);
    expect(tryLock(path)).toBeNull();
    waiter.release();
    const after = tryLock(path);
    expect(after).not.toBeNull();
    after?.release();
  });
});
