import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  lchownSync,
  linkSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  rmSync,
  statfsSync,
  symlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import type { Readable } from 'node:stream';
import { errnoCode } from '../errors.js';
import { native } from '../native/index.js';
import { rebaseName, type CopyPlan } from './cp.js';
import { keptXattrs } from './diff.js';
import { at, O_PATH, Scope, ScopeError, type Resolved } from './scope.js';
import { displayName, isRegularType, TarType, type TarHeader, type TarSink } from './tar.js';
import type { TarWriter } from './tar-writer.js';

export class CopyError extends Error {}

const S_IFMT = 0o170000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;
const READ_CHUNK = 1 << 20;
// statfs magic numbers of proc, sysfs, cgroup, cgroup2, devpts, mqueue, debugfs, tracefs, securityfs, bpf.
const KERNEL_FS = new Set([0x9fa0, 0x62656572, 0x27e0eb, 0x63677270, 0x1cd1, 0x19800202, 0x64626720, 0x74726163, 0x73636673, 0xcafe4a11]);

function major(rdev: number): number {
  return ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
}

function minor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >>> 12) & ~0xff & 0xfffff);
}

function fileContent(fd: number, size: number): Readable {
  // A file that grows while it is copied is cut at the size it had (as tar does).
  async function* chunks(): AsyncGenerator<Buffer> {
    let pos = 0;
    while (pos < size) {
      const buf = Buffer.alloc(Math.min(READ_CHUNK, size - pos));
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      pos += n;
      yield n === buf.length ? buf : buf.subarray(0, n);
    }
  }
  return chunks() as unknown as Readable;
}

/**
 * Writes a file tree to a tar as docker cp does: the first member is the source itself under
 * `name`, then what a directory holds, in name order. Never follows a symlink (they are copied
 * as links); files with several links become hard links to the first one copied. Names are byte
 * strings (source.name and `name` too), so names that are not UTF-8 are copied exactly; file
 * capabilities and user.* xattrs go along, as in an image layer.
 */
export async function packTree(writer: TarWriter, source: Resolved, name: string): Promise<void> {
  const links = new Map<string, string>();

  const add = async (dirFd: number, entry: string, member: string, parentDev?: number): Promise<void> => {
    const st = lstatAt(dirFd, entry);
    if (!st) return;
    const base = { name: member, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000), xattrs: keptXattrs(at(dirFd, entry)) };
    if (st.isDirectory()) {
      const fd = openSync(at(dirFd, entry), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
      try {
        await writer.add({ ...base, name: member.endsWith('/') ? member : `${member}/`, type: TarType.Directory });
        // A running container's /proc, /sys and the like are the kernel's, not files to copy.
        if (parentDev !== undefined && st.dev !== parentDev && KERNEL_FS.has(statfsSync(at(fd, '.')).type)) return;
        // Byte strings sort bytewise, as docker lists them.
        const children = readdirSync(at(fd, '.'), { encoding: 'latin1' }).sort();
        const prefix = member === '.' ? '.' : member.replace(/\/$/, '');
        for (const child of children) await add(fd, child, `${prefix}/${child}`, st.dev);
      } finally {
        closeSync(fd);
      }
      return;
    }
    if (st.isSymbolicLink()) {
      await writer.add({ ...base, type: TarType.Symlink, linkname: readlinkSync(at(dirFd, entry), { encoding: 'latin1' }) });
      return;
    }
    if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? links.get(key) : undefined;
      if (first !== undefined) {
        await writer.add({ ...base, type: TarType.HardLink, linkname: first });
        return;
      }
      if (st.nlink > 1) links.set(key, member);
      const fd = openSync(at(dirFd, entry), constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        const size = fstatSync(fd).size;
        await writer.add({ ...base, type: TarType.File, size }, size > 0 ? fileContent(fd, size) : undefined);
      } finally {
        closeSync(fd);
      }
      return;
    }
    const kind = st.mode & S_IFMT;
    if (kind === S_IFCHR || kind === S_IFBLK) {
      await writer.add({ ...base, type: kind === S_IFCHR ? TarType.CharDevice : TarType.BlockDevice, devmajor: major(st.rdev), devminor: minor(st.rdev) });
    } else if (kind === S_IFIFO) {
      await writer.add({ ...base, type: TarType.Fifo });
    }
    // Sockets cannot be archived; tar leaves them out too.
  };

  await add(source.dirFd, source.name, name);
}

function lstatAt(dirFd: number, name: string): Stats | undefined {
  return Scope.lstat({ dirFd, name, path: '' });
}

/** Who owns what a copy makes: the ids in the tar, fixed ids, or whoever unpacks it. */
export type CopyOwnership = { kind: 'keep' } | { kind: 'fixed'; uid: number; gid: number } | { kind: 'none' };

export interface ExtractOptions {
  /** The directory everything is resolved in, as a chroot (a container's root, or the host destination). */
  scope: Scope;
  /** Where the plan says to unpack, inside the scope ('/' for the scope itself). */
  plan: CopyPlan;
  ownership: CopyOwnership;
}

interface PendingDir {
  path: string;
  xattrs: Map<string, Buffer>;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  atime: number;
}

/**
 * Unpacks a copy's tar (a TarParser sink) as docker's untar does for cp: parents resolved inside
 * the scope, an existing directory kept, an existing file replaced, but never a directory by a
 * file or the other way round. Directories get their modes and times at the end (finish()).
 * Paths are byte strings (the plan's too). Xattrs are set where this process may set them.
 */
export class CopyExtractor implements TarSink {
  private fd: number | undefined;
  private file: TarHeader | undefined;
  /** The directory of the file being written (O_PATH), kept open to set its xattrs at the end. */
  private fileDir: { dirFd: number; name: string } | undefined;
  private current = '';
  private readonly dirs: PendingDir[] = [];

  constructor(private readonly opts: ExtractOptions) {}

  raw(): void {}

  entry(h: TarHeader): void {
    const name = rebaseName(h.name, this.opts.plan.rebase);
    const rel = cleanMember(name);
    const path = `${this.opts.plan.dir.replace(/\/+$/, '')}/${rel}`;
    this.current = path;
    const isDir = h.type === TarType.Directory || h.type === TarType.GnuDumpDir;
    const target = this.opts.scope.resolve(path, { mkdir: (fd, n) => this.mkdir(fd, n) });
    try {
      const existing = Scope.lstat(target);
      if (existing) {
        if (existing.isDirectory() && !isDir) throw new CopyError(`cannot overwrite the directory ${displayName(target.path)} with a file from the copy`);
        if (!existing.isDirectory() && isDir) throw new CopyError(`cannot overwrite the file ${displayName(target.path)} with a directory from the copy`);
        if (!isDir) rmSync(at(target.dirFd, target.name));
      }
      const own = this.owner(h);
      const atime = h.atime ?? h.mtime;
      if (isDir) {
        // The root of a copy into an existing directory leaves that directory as it is.
        if (existing && rel === '') return;
        if (!existing) mkdirSync(at(target.dirFd, target.name), 0o700);
        this.dirs.push({ path, xattrs: h.xattrs, mode: h.mode, uid: own?.uid ?? -1, gid: own?.gid ?? -1, mtime: h.mtime, atime });
      } else if (isRegularType(h.type)) {
        this.fd = openSync(at(target.dirFd, target.name), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        this.file = h;
        if (h.xattrs.size > 0) this.fileDir = { dirFd: openSync(at(target.dirFd, '.'), O_PATH | constants.O_DIRECTORY), name: target.name };
      } else if (h.type === TarType.Symlink) {
        symlinkSync(Buffer.from(h.linkname, 'latin1'), at(target.dirFd, target.name));
        if (own) lchownSync(at(target.dirFd, target.name), own.uid, own.gid);
        setXattrs(at(target.dirFd, target.name), h.xattrs);
        lutimesSync(at(target.dirFd, target.name), atime, h.mtime);
      } else if (h.type === TarType.HardLink) {
        const linked = this.opts.scope.resolve(`${this.opts.plan.dir.replace(/\/+$/, '')}/${cleanMember(rebaseName(h.linkname, this.opts.plan.rebase))}`);
        try {
          linkSync(at(linked.dirFd, linked.name), at(target.dirFd, target.name));
        } finally {
          closeSync(linked.dirFd);
        }
      } else if (h.type === TarType.CharDevice || h.type === TarType.BlockDevice || h.type === TarType.Fifo) {
        const type = h.type === TarType.CharDevice ? S_IFCHR : h.type === TarType.BlockDevice ? S_IFBLK : S_IFIFO;
        try {
          native().mknod(at(target.dirFd, target.name), type | h.mode, h.devmajor, h.devminor);
        } catch (err) {
          // Without the right to make devices (rootless), they are left out, as docker does in a user namespace.
          if (type !== S_IFIFO && errnoCode(err) === 'EPERM') return;
          throw err;
        }
        if (own) lchownSync(at(target.dirFd, target.name), own.uid, own.gid);
        setXattrs(at(target.dirFd, target.name), h.xattrs);
        lutimesSync(at(target.dirFd, target.name), atime, h.mtime);
      }
      // Anything else (a GNU volume label) has nothing to make.
    } finally {
      closeSync(target.dirFd);
    }
  }

  data(bytes: Buffer): void {
    if (this.fd === undefined) return;
    for (let off = 0; off < bytes.length; ) off += writeSync(this.fd, bytes, off);
  }

  /** A file's owner, mode and times, once its content is written. */
  entryEnd(): void {
    const fd = this.fd;
    const h = this.file;
    const dir = this.fileDir;
    if (fd === undefined || !h) return;
    this.fd = undefined;
    this.file = undefined;
    this.fileDir = undefined;
    try {
      const own = this.owner(h);
      if (own) fchownSync(fd, own.uid, own.gid);
      // After the chown, which clears setuid bits.
      fchmodSync(fd, h.mode);
      // After the content and the chown, which both remove a file capability.
      if (dir) setXattrs(at(dir.dirFd, dir.name), h.xattrs);
      futimesSync(fd, h.atime ?? h.mtime, h.mtime);
    } finally {
      closeSync(fd);
      if (dir) closeSync(dir.dirFd);
    }
  }

  private owner(h: TarHeader): { uid: number; gid: number } | undefined {
    const o = this.opts.ownership;
    if (o.kind === 'none') return undefined;
    return o.kind === 'keep' ? { uid: h.uid, gid: h.gid } : { uid: o.uid, gid: o.gid };
  }

  private mkdir(dirFd: number, name: string): void {
    mkdirSync(at(dirFd, name), 0o755);
    const o = this.opts.ownership;
    if (o.kind === 'fixed') lchownSync(at(dirFd, name), o.uid, o.gid);
  }

  /** Sets the directories' owners, modes and times, deepest first (their contents are done). */
  finish(): void {
    for (const d of this.dirs.reverse()) {
      const r = this.opts.scope.resolve(d.path);
      try {
        const fd = openSync(at(r.dirFd, r.name), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
        try {
          if (d.uid >= 0) fchownSync(fd, d.uid, d.gid);
          fchmodSync(fd, d.mode);
          setXattrs(at(r.dirFd, r.name), d.xattrs);
          futimesSync(fd, d.atime, d.mtime);
        } finally {
          closeSync(fd);
        }
      } finally {
        closeSync(r.dirFd);
      }
    }
    this.dirs.length = 0;
  }

  /** The member being unpacked, for error messages. */
  get where(): string {
    return displayName(this.current);
  }

  /** After a failure: closes what a file half written holds open. */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    if (this.fileDir) closeSync(this.fileDir.dirFd);
    this.fd = undefined;
    this.fileDir = undefined;
  }
}

/** A member's path relative to where the copy goes: leading slashes dropped, `..` may not climb out. */
function cleanMember(name: string): string {
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) throw new CopyError(`the archive member "${displayName(name)}" points outside the destination with ".."`);
      out.pop();
      continue;
    }
    out.push(part);
  }
  return out.join('/');
}

const OVERLAY_XATTR = /^(trusted|user)\.overlay\./;
// What a process may not set (trusted.* rootless, security.capability without CAP_SETFCAP) or a file system does not keep.
const XATTR_REFUSED = new Set(['EPERM', 'EACCES', 'ENOTSUP', 'EOPNOTSUPP']);

/** Sets a member's xattrs where this process may; overlay's own never, as they would change how the container's layers stack. */
function setXattrs(path: Buffer, xattrs: Map<string, Buffer>): void {
  for (const [name, value] of xattrs) {
    if (OVERLAY_XATTR.test(name)) continue;
    try {
      native().lsetxattr(path, name, value);
    } catch (err) {
      if (!XATTR_REFUSED.has(errnoCode(err) ?? '')) throw err;
    }
  }
}

export { O_PATH, ScopeError };
