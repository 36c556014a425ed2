import { closeSync, constants, lstatSync, openSync, readdirSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { errnoCode } from '../errors.js';
import { native } from '../native/index.js';
import { encodeHeader, END_OF_ARCHIVE, type TarEntry } from './tar-writer.js';
import { BLOCK, byteString, displayName, fsPath, TarType } from './tar.js';

/*
 * Paths here are byte strings (one latin1 character per byte, as tar.ts names members), so that
 * names that are not valid UTF-8 reach the archive exactly; fsPath gives the file system their bytes.
 */

/** Receives the archive's bytes in order; a chunk is valid only during the call (copy to keep it). */
export type TarSink = (chunk: Buffer) => void;

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';
const OVERLAY_XATTR = /^(trusted|user)\.overlay\./;
const CHUNK = 1 << 20;

/**
 * Files the runtime creates as mount points in a container's upper directory when the image
 * lacks them: not the user's changes (docker keeps them in its init layer, podman hides them).
 */
const MOUNT_POINTS = new Set(['etc/hosts', 'etc/hostname', 'etc/resolv.conf', 'run/.containerenv', 'dev', 'proc', 'sys']);

/** Linux dev_t encoding (glibc's gnu_dev_major/minor). */
function devMajor(rdev: number): number {
  return (Math.floor(rdev / 2 ** 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
}
function devMinor(rdev: number): number {
  return (rdev & 0xff) | (Math.floor(rdev / 2 ** 12) & ~0xff);
}

/** A file's xattr names; path is a byte string or the path's bytes. */
function xattrNames(path: string | Buffer): string[] {
  try {
    return native().llistxattr(typeof path === 'string' ? fsPath(path) : path);
  } catch {
    return [];
  }
}

/** The overlay attribute `name` (opaque, whiteout...) in either namespace: trusted as root, user rootless. */
function overlayXattr(path: string, names: string[], name: string): string | undefined {
  for (const ns of ['trusted', 'user']) {
    const key = `${ns}.overlay.${name}`;
    if (!names.includes(key)) continue;
    return native().lgetxattr(fsPath(path), key)?.toString('latin1');
  }
  return undefined;
}

/** A file's own xattrs worth keeping in an image or a copy: file capabilities and user.*, never overlay's. */
export function keptXattrs(path: string | Buffer, names: string[] = xattrNames(path)): Map<string, Buffer> | undefined {
  let out: Map<string, Buffer> | undefined;
  for (const name of names) {
    if (OVERLAY_XATTR.test(name)) continue;
    if (name !== 'security.capability' && !name.startsWith('user.')) continue;
    const value = native().lgetxattr(typeof path === 'string' ? fsPath(path) : path, name);
    if (value) (out ??= new Map()).set(name, value);
  }
  return out;
}

/** An overlay whiteout: a 0/0 character device, or (kernel >= 6.7) an empty file marked by xattr. */
function isWhiteout(path: string, st: Stats, names: () => string[]): boolean {
  if (st.isCharacterDevice()) return st.rdev === 0;
  return st.isFile() && st.size === 0 && overlayXattr(path, names(), 'whiteout') !== undefined;
}

/** A directory's names as byte strings, in Go's filepath.Walk order (bytewise), which docker's listings follow. */
function sortedNames(dir: string): string[] {
  try {
    return readdirSync(fsPath(dir), { encoding: 'latin1' }).sort();
  } catch (err) {
    // A running container removed it since its parent was read: it is not part of the changes.
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
}

/** lstat, or undefined for a file a running container removed since its directory was read (tar skips those too). */
function lstatIfThere(abs: string): Stats | undefined {
  try {
    return lstatSync(fsPath(abs));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

function join(dir: string, name: string): string {
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}

/** Writes tar members from files on disk to a sink, with hard links found by inode. */
export class TreeArchiver {
  private readonly links = new Map<string, string>();
  private readonly buf: Buffer | undefined;
  /** Bytes written so far. */
  size = 0;

  /** ownChunks: every chunk is a new buffer the sink may keep (else one buffer is reused). */
  constructor(
    private readonly sink: TarSink,
    ownChunks = false,
  ) {
    if (!ownChunks) this.buf = Buffer.allocUnsafe(CHUNK);
  }

  private emit(chunk: Buffer): void {
    this.size += chunk.length;
    this.sink(chunk);
  }

  header(entry: TarEntry): void {
    this.emit(encodeHeader(entry));
  }

  /**
   * Adds the file at `abs` as member `name` (byte strings; no leading slash; directories get a trailing one).
   * Sockets are skipped, as tar does.
   */
  add(abs: string, name: string, st: Stats, names: string[] = xattrNames(abs)): void {
    const base = { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000), xattrs: keptXattrs(abs, names) };
    if (st.isDirectory()) return this.header({ ...base, name: `${name}/`, type: TarType.Directory });
    if (st.isSymbolicLink()) return this.header({ ...base, type: TarType.Symlink, linkname: readlinkSync(fsPath(abs), { encoding: 'latin1' }) });
    if (st.isFIFO()) return this.header({ ...base, type: TarType.Fifo });
    if (st.isCharacterDevice() || st.isBlockDevice()) {
      return this.header({ ...base, type: st.isCharacterDevice() ? TarType.CharDevice : TarType.BlockDevice, devmajor: devMajor(st.rdev), devminor: devMinor(st.rdev) });
    }
    if (!st.isFile()) return;
    if (st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = this.links.get(key);
      if (first !== undefined) return this.header({ ...base, type: TarType.HardLink, linkname: first });
      this.links.set(key, name);
    }
    this.header({ ...base, type: TarType.File, size: st.size });
    this.content(abs, st.size);
  }

  /** Exactly `size` bytes of the file (a file that shrank meanwhile is padded, one that grew cut). */
  private content(abs: string, size: number): void {
    if (size === 0) return;
    let left = size;
    let fd: number | undefined;
    try {
      fd = openSync(fsPath(abs), constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      // Removed since its header was written: zeros follow, as for a file that shrank.
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    if (fd !== undefined) {
      try {
        while (left > 0) {
          const buf = this.buf ?? Buffer.allocUnsafe(Math.min(CHUNK, left));
          const n = readSync(fd, buf, 0, Math.min(CHUNK, left), null);
          if (n === 0) break;
          this.emit(buf.subarray(0, n));
          left -= n;
        }
      } finally {
        closeSync(fd);
      }
    }
    for (; left > 0; left -= Math.min(CHUNK, left)) this.emit(Buffer.alloc(Math.min(CHUNK, left)));
    const rest = size % BLOCK;
    if (rest !== 0) this.emit(Buffer.alloc(BLOCK - rest));
  }

  finish(): void {
    this.emit(END_OF_ARCHIVE);
  }
}

/** Where a path of the container stands in the image below its upper directory. */
class LowerView {
  private readonly lowers: string[];

  constructor(lowers: string[]) {
    this.lowers = lowers.map(byteString);
  }

  /** lstat of the topmost copy of rel in the image's layers (top first), or undefined if absent or whited out. */
  stat(rel: string): Stats | undefined {
    for (const layer of this.lowers) {
      let st: Stats;
      try {
        st = lstatSync(fsPath(join(layer, rel)));
      } catch {
        continue;
      }
      if (st.isCharacterDevice() && st.rdev === 0) return undefined;
      return st;
    }
    return undefined;
  }
}

/** An empty file or directory the runtime made as a mount point, where the image has nothing. */
function isRuntimeMountPoint(rel: string, abs: string, st: Stats, lower: LowerView): boolean {
  if (!MOUNT_POINTS.has(rel)) return false;
  const empty = st.isFile() ? st.size === 0 : st.isDirectory() && readdirSync(fsPath(abs)).length === 0;
  return empty && lower.stat(rel) === undefined;
}

export interface UpperLayerOptions {
  /** The image's layer directories, top first: to tell the runtime's mount points from changes. */
  lowers: string[];
  /** The sink keeps chunks (see TreeArchiver). */
  ownChunks?: boolean;
}

interface UpperEntry {
  name: string;
  abs: string;
  /** Relative to the upper directory's top. */
  path: string;
  st: Stats;
  /** Its xattr names, listed on first use. */
  xnames: () => string[];
  /** An overlay whiteout: the name was deleted. */
  whiteout: boolean;
}

/** The entries of one directory of an upper dir, sorted; the runtime's own mount points left out. */
function* upperEntries(dir: string, rel: string, lower: LowerView): Generator<UpperEntry> {
  for (const name of sortedNames(dir)) {
    const abs = join(dir, name);
    const path = rel ? `${rel}/${name}` : name;
    const st = lstatIfThere(abs);
    if (!st) continue;
    let names: string[] | undefined;
    const xnames = () => (names ??= xattrNames(abs));
    const whiteout = isWhiteout(abs, st, xnames);
    if (!whiteout && isRuntimeMountPoint(path, abs, st, lower)) continue;
    yield { name, abs, path, st, xnames, whiteout };
  }
}

/**
 * The layer tar of an overlay upper directory (a container's changes), as an OCI layer:
 * whiteouts become `.wh.NAME` members, opaque directories get a `.wh..wh..opq` member, files
 * keep their owners, modes, times, links and xattrs as stat sees them (rootless: run inside the
 * user namespace, so the ids are the container's).
 */
export function writeUpperLayer(upper: string, sink: TarSink, opts: UpperLayerOptions): number {
  const tar = new TreeArchiver(sink, opts.ownChunks);
  const lower = new LowerView(opts.lowers);
  const walk = (dir: string, rel: string): void => {
    for (const { name, abs, path, st, xnames, whiteout } of upperEntries(dir, rel, lower)) {
      if (whiteout) {
        tar.header({ name: rel ? `${rel}/${WHITEOUT}${name}` : `${WHITEOUT}${name}`, type: TarType.File, mode: 0o600, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) });
        continue;
      }
      // Kernels mounting with metacopy=on or redirect_dir=on leave data in the lower layers.
      for (const feature of ['metacopy', 'redirect']) {
        if (overlayXattr(abs, xnames(), feature) !== undefined) {
          throw new Error(`/${displayName(path)} in the container's upper directory is an overlay ${feature} entry; its changes cannot be read from the upper directory alone (mount with ${feature === 'metacopy' ? 'metacopy' : 'redirect_dir'}=off)`);
        }
      }
      tar.add(abs, path, st, xnames());
      if (!st.isDirectory()) continue;
      if (overlayXattr(abs, xnames(), 'opaque') === 'y') {
        tar.header({ name: `${path}/${OPAQUE}`, type: TarType.File, mode: 0, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) });
      }
      walk(abs, path);
    }
  };
  walk(byteString(upper), '');
  tar.finish();
  return tar.size;
}

/** The whole tree under root as a tar (a container's merged file system, for export). */
export function writeTree(root: string, sink: TarSink): number {
  const tar = new TreeArchiver(sink);
  const walk = (dir: string, rel: string): void => {
    for (const name of sortedNames(dir)) {
      const abs = join(dir, name);
      const path = rel ? `${rel}/${name}` : name;
      const st = lstatIfThere(abs);
      if (!st) continue;
      tar.add(abs, path, st);
      if (st.isDirectory()) walk(abs, path);
    }
  };
  walk(byteString(root), '');
  tar.finish();
  return tar.size;
}

export type ChangeKind = 'A' | 'C' | 'D';

/** One line of `ctr diff`. */
export interface FileChange {
  kind: ChangeKind;
  /** Absolute path in the container, as a byte string (see displayName). */
  path: string;
}

/**
 * A container's changes as docker lists them, in its walk order (parents first, names sorted):
 * D for a whiteout (and for a directory replaced whole), A for what the image lacks, C for
 * what it has, and C for each directory on the way to a change.
 */
export function listChanges(upper: string, lowers: string[]): FileChange[] {
  const lower = new LowerView(lowers);
  const walk = (dir: string, rel: string, underOpaque: boolean): FileChange[] => {
    const out: FileChange[] = [];
    for (const { abs, path, st, xnames, whiteout } of upperEntries(dir, rel, lower)) {
      if (whiteout) {
        out.push({ kind: 'D', path: `/${path}` });
        continue;
      }
      const before = underOpaque ? undefined : lower.stat(path);
      if (!st.isDirectory()) {
        out.push({ kind: before ? 'C' : 'A', path: `/${path}` });
        continue;
      }
      const opaque = overlayXattr(abs, xnames(), 'opaque') === 'y';
      const inner = walk(abs, path, underOpaque || opaque);
      if (opaque && before) {
        out.push({ kind: 'D', path: `/${path}` }, ...inner);
      } else if (!before) {
        out.push({ kind: 'A', path: `/${path}` }, ...inner);
      } else {
        // A directory copied up only because of what is below it counts when that does.
        const own = !before.isDirectory() || before.mode !== st.mode || before.uid !== st.uid || before.gid !== st.gid;
        if (own || inner.length > 0) out.push({ kind: 'C', path: `/${path}` }, ...inner);
      }
    }
    return out;
  };
  return walk(byteString(upper), '', false);
}
