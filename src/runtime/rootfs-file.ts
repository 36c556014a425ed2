import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { errnoCode, errorMessage } from '../errors.js';
import { native } from '../native/index.js';

export interface ReadRootfsFileOptions {
  /** Larger files are treated as unreadable (default 16 MiB). */
  maxBytes?: number;
  /** Called when the file exists but cannot be read (rootless: owned by a subuid, mode 0600). */
  onUnreadable?: (path: string, why: string) => void;
}

const MAX_SYMLINKS = 40;
const OPAQUE_XATTRS = ['trusted.overlay.opaque', 'user.overlay.opaque'];

class Unreadable extends Error {}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new Unreadable(`${path}: ${errorMessage(err)}`);
  }
}

function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

function isOpaque(path: string): boolean {
  for (const name of OPAQUE_XATTRS) {
    try {
      if (native().lgetxattr(path, name)?.toString() === 'y') return true;
    } catch {
      // trusted.* is invisible to unprivileged users, which then cannot have made it either
    }
  }
  return false;
}

/**
 * The layers (top first) that hold the directory at `parts` and so contribute entries to it:
 * the chain stops below an opaque directory or below a layer where the path is not a directory.
 */
function dirLayers(layers: string[], parts: string[]): string[] {
  let current = layers;
  for (let depth = 1; depth <= parts.length; depth++) {
    const rel = parts.slice(0, depth);
    const next: string[] = [];
    for (const layer of current) {
      const path = join(layer, ...rel);
      const st = lstatOrNull(path);
      if (!st) continue;
      if (!st.isDirectory()) break;
      next.push(layer);
      if (isOpaque(path)) break;
    }
    current = next;
  }
  return current;
}

/**
 * Where `path` (inside the image) lives in the layer directories, resolved as overlayfs would
 * show it: the topmost layer wins, whiteouts and opaque directories hide lower layers, and
 * symlinks are followed inside the image root, never out of the layer directories.
 */
export function lookupRootfsPath(lowerdirsTopFirst: string[], path: string): string | null {
  const queue = path.split('/');
  const resolved: string[] = [];
  let layers = lowerdirsTopFirst;
  let links = 0;
  while (queue.length > 0) {
    const part = queue.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      resolved.pop();
      layers = dirLayers(lowerdirsTopFirst, resolved);
      continue;
    }
    let hit: { layer: string; st: Stats } | undefined;
    for (const layer of layers) {
      const st = lstatOrNull(join(layer, ...resolved, part));
      if (st) {
        hit = { layer, st };
        break;
      }
    }
    if (!hit || isWhiteout(hit.st)) return null;
    const full = join(hit.layer, ...resolved, part);
    if (hit.st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) return null;
      const target = readlinkSync(full);
      if (target.startsWith('/')) {
        resolved.length = 0;
        layers = lowerdirsTopFirst;
      }
      queue.unshift(...target.split('/'));
      continue;
    }
    const last = queue.every((p) => p === '' || p === '.');
    if (hit.st.isDirectory()) {
      if (last) return full;
      resolved.push(part);
      layers = dirLayers(lowerdirsTopFirst, resolved);
      continue;
    }
    return last ? full : null;
  }
  return lowerdirsTopFirst[0] ?? null;
}

/**
 * A regular file of the image read through its layers, or null when it does not exist (or is
 * not a regular file). A file that exists but cannot be read gives null and a call to onUnreadable.
 */
export function readRootfsFile(lowerdirsTopFirst: string[], path: string, opts: ReadRootfsFileOptions = {}): Buffer | null {
  const max = opts.maxBytes ?? 16 * 1024 * 1024;
  let found: string | null;
  try {
    found = lookupRootfsPath(lowerdirsTopFirst, path);
  } catch (err) {
    if (!(err instanceof Unreadable)) throw err;
    opts.onUnreadable?.(path, err.message);
    return null;
  }
  if (found === null) return null;
  let fd: number;
  try {
    fd = openSync(found, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ELOOP') return null;
    opts.onUnreadable?.(path, `${found}: ${errorMessage(err)}`);
    return null;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return null;
    if (st.size > max) {
      opts.onUnreadable?.(path, `${found} is larger than ${max} bytes`);
      return null;
    }
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } catch (err) {
    opts.onUnreadable?.(path, `${found}: ${errorMessage(err)}`);
    return null;
  } finally {
    closeSync(fd);
  }
}
