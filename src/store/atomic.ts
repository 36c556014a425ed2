import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomHex } from '../random.js';

/** A name in the same directory that no reader ever looks for. */
export function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomHex(4)}`);
}

/**
 * Readers never see a half-written file: write a temp file, fsync, rename, fsync the directory.
 * Without `durable`, the fsyncs are skipped: still atomic for readers and for a killed process,
 * only a power loss may bring back the previous version.
 */
export function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644, durable = true): void {
  const tmp = tempName(path);
  const fd = openSync(tmp, 'wx', mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    if (durable) fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  }
  if (durable) fsyncDir(dirname(path));
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function writeJsonAtomic(path: string, value: unknown, mode = 0o644, durable = true): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n', mode, durable);
}
