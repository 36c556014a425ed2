import { closeSync, fstatSync, openSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { native } from '../native/index.js';

/** A held file lock; release() is idempotent. The kernel drops it if the process dies. */
export interface Lock {
  release(): void;
}

/**
 * Takes a flock on `path` (created if missing). Waiting polls with a non-blocking try so the
 * event loop keeps running (downloads go on while another ctr holds the lock). A lock file that
 * was deleted (or replaced) while we waited for it locks nothing any more: then we start over on
 * the file now at `path`, as does every other taker.
 */
export async function acquireLock(path: string, opts: { exclusive?: boolean; signal?: AbortSignal } = {}): Promise<Lock> {
  const exclusive = opts.exclusive ?? true;
  for (;;) {
    const fd = openSync(path, 'a', 0o600);
    try {
      let wait = 2;
      while (!native().flock(fd, exclusive, true)) {
        opts.signal?.throwIfAborted();
        await sleep(wait);
        wait = Math.min(wait * 2, 50);
      }
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    if (stillAt(fd, path)) return heldLock(fd);
    closeSync(fd);
  }
}

/** Takes the lock only if it is free right now; null when someone holds it. */
export function tryLock(path: string, exclusive = true): Lock | null {
  for (;;) {
    const fd = openSync(path, 'a', 0o600);
    if (!native().flock(fd, exclusive, true)) {
      closeSync(fd);
      return null;
    }
    if (stillAt(fd, path)) return heldLock(fd);
    closeSync(fd);
  }
}

/** Whether the open lock file fd is still the file at path (not deleted, not replaced). */
function stillAt(fd: number, path: string): boolean {
  try {
    const open = fstatSync(fd);
    const now = statSync(path);
    return open.ino === now.ino && open.dev === now.dev;
  } catch {
    return false;
  }
}

/** Closing the descriptor drops the flock. */
function heldLock(fd: number): Lock {
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      closeSync(fd);
    },
  };
}

export async function withLock<T>(path: string, fn: () => Promise<T> | T, opts: { exclusive?: boolean } = {}): Promise<T> {
  const lock = await acquireLock(path, opts);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
