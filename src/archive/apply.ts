import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writevSync,
  type Stats,
} from 'node:fs';
import { native } from '../native/index.js';
import { FileQueue } from './file-queue.js';
import { displayName, isRegularType, TarType, type TarHeader, type TarSink } from './tar.js';
import type { TarSplitRecorder } from './tarsplit.js';

/**
 * How ownership is applied: 'root' = chown to the tar's ids as they are; 'userns' = the same,
 * but inside a user namespace that maps container ids 0..maxUid; 'single' = one mapped id,
 * every file stays owned by the unpacking user.
 */
export type Ownership = 'root' | 'userns' | 'single';

export interface ApplyOptions {
  /** The directory to fill (diff/); exists and is empty. */
  root: string;
  ownership: Ownership;
  /** Highest container uid/gid that can be chowned to (userns only). */
  maxUid: number;
  maxGid: number;
  /** trusted.overlay.opaque as real root, user.overlay.opaque rootless (overlay's userxattr). */
  opaqueXattr: string;
  /** The user whose /etc/subuid range is too small, for the error message. */
  user?: string;
}

/** The layer tries to write outside its directory or is otherwise unsafe: the whole unpack fails. */
export class UnsafeLayerError extends Error {}

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';
const FLUSH_BYTES = 1 << 20;
/** Files up to this size without xattrs are created whole on the file queue's threads. */
const QUEUED_FILE_MAX = FLUSH_BYTES;
const QUEUE_BYTES = 16 << 20;
// One thread: two contend for the directories' locks and the CPU, and were slower on 2 cores.
const QUEUE_THREADS = 1;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

/**
 * Lexically cleans a tar member name into a path relative to the layer root ('' = the root).
 * Refuses absolute names and `..` that climbs out of the root.
 */
export function cleanMemberPath(name: string, what = 'entry'): string {
  if (name.startsWith('/')) throw new UnsafeLayerError(`the layer ${what} "${displayName(name)}" has an absolute path`);
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) throw new UnsafeLayerError(`the layer ${what} "${displayName(name)}" points outside the layer with ".."`);
      out.pop();
      continue;
    }
    out.push(part);
  }
  return out.join('/');
}

function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? '' : rel.slice(0, i);
}

function baseOf(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

function code(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

function lstatOrNull(path: Buffer): Stats | null {
  try {
    return lstatSync(path);
  } catch (err) {
    if (code(err) === 'ENOENT') return null;
    throw err;
  }
}

class Notices {
  private kinds = new Map<string, { text: string; count: number; examples: string[] }>();

  add(kind: string, text: string, example: string): void {
    let k = this.kinds.get(kind);
    if (!k) this.kinds.set(kind, (k = { text, count: 0, examples: [] }));
    k.count++;
    if (k.examples.length < 3) k.examples.push(displayName(example) || '/');
  }

  list(): string[] {
    return [...this.kinds.values()].map((k) => {
      const more = k.count > k.examples.length ? `, and ${k.count - k.examples.length} more` : '';
      return `${k.text}: ${k.examples.join(', ')}${more}`;
    });
  }
}

type Current =
  | {
      kind: 'file';
      rel: string;
      header: TarHeader;
      pieces: Buffer[];
      pending: number;
      fd: number | undefined;
      ref: number | undefined;
      /** Created whole by the file queue at the end of the entry, instead of here. */
      queued: boolean;
    }
  | { kind: 'inline' }
  | { kind: 'none' };

/**
 * Applies a layer tar to a directory in overlay form (whiteouts become 0/0 character devices,
 * opaque markers an xattr) while recording the tar-split. Never follows a symlink: each parent
 * component is checked with lstat, files are created with O_EXCL|O_NOFOLLOW.
 *
 * Small files are created on the file queue's threads while parsing goes on. That is safe
 * because the queue only gets paths nothing of this layer has claimed yet (`made`), whose
 * parents already exist; anything that looks at, replaces or removes a path the queue may still
 * be creating, or needs it to exist (hard links, directory times), waits for the queue first.
 */
export class LayerApplier implements TarSink {
  private readonly rootBytes: string;
  /** Relative paths known to be real directories (not symlinks) right now. */
  private dirs = new Set<string>(['']);
  /** Directories of this layer with the setgid bit: files made in them take their group. */
  private readonly setgidDirs = new Set<string>();
  /** Files whose content the tar-split reads back from disk, by path: record index. */
  private liveRefs = new Map<string, number>();
  private dirTimes = new Map<string, [number, number]>();
  private whiteouts = new Set<string>();
  /** Every path this layer created or began to create (a superset of what exists in root). */
  private readonly made = new Set<string>();
  private readonly queue: FileQueue;
  private readonly notices = new Notices();
  private cur: Current = { kind: 'none' };

  constructor(
    private readonly opts: ApplyOptions,
    private readonly split: TarSplitRecorder,
  ) {
    this.rootBytes = Buffer.from(opts.root, 'utf8').toString('latin1');
    this.queue = new FileQueue(opts.root, QUEUE_THREADS, QUEUE_BYTES);
  }

  raw(bytes: Buffer): void {
    this.split.addRaw(bytes);
  }

  entry(h: TarHeader): void {
    const rel = cleanMemberPath(h.name);
    const base = baseOf(rel);
    if (base.startsWith(WHITEOUT)) {
      this.whiteout(rel, base, h);
    } else if (isRegularType(h.type)) {
      this.regular(rel, h);
      return;
    } else {
      switch (h.type) {
        case TarType.Directory:
        case TarType.GnuDumpDir:
          this.directory(rel, h);
          break;
        case TarType.Symlink:
          this.symlink(rel, h);
          break;
        case TarType.HardLink:
          this.hardlink(rel, h);
          break;
        case TarType.CharDevice:
        case TarType.BlockDevice:
        case TarType.Fifo:
          this.special(rel, h);
          break;
        case TarType.GnuVolume:
          break;
        default:
          throw new UnsafeLayerError(`the layer entry "${displayName(h.name)}" has the unsupported tar type "${h.type.replace('\0', '\\0')}"`);
      }
    }
    this.startInline(h.size);
  }

  data(bytes: Buffer): void {
    const cur = this.cur;
    if (cur.kind === 'file') {
      cur.pieces.push(bytes);
      cur.pending += bytes.length;
      // Queued as soon as the content is complete: holding the chunks longer makes them old garbage.
      if (cur.queued) {
        if (cur.pending === cur.header.size) this.pushQueued(cur);
      } else if (cur.pending >= FLUSH_BYTES) this.flush(cur);
    } else if (cur.kind === 'inline') {
      this.split.addInline(bytes);
    }
  }

  entryEnd(): void {
    const cur = this.cur;
    this.cur = { kind: 'none' };
    if (cur.kind === 'inline') {
      this.split.endInline();
      return;
    }
    if (cur.kind !== 'file') return;
    if (cur.queued) {
      // Empty files; the others went to the queue with their last byte.
      this.pushQueued(cur);
      return;
    }
    this.flush(cur);
    const fd = cur.fd!;
    try {
      this.chown(cur.rel, cur.header, true, fd);
      // Created with its permission bits (umask 0); chown clears setuid/setgid, so those come after.
      if ((cur.header.mode & 0o7000) !== 0) fchmodSync(fd, cur.header.mode);
      this.xattrs(cur.rel, cur.header);
      futimesSync(fd, cur.header.atime ?? cur.header.mtime, cur.header.mtime);
    } finally {
      closeSync(fd);
    }
  }

  private pushQueued(cur: Extract<Current, { kind: 'file' }>): void {
    const h = cur.header;
    this.queue.push({
      rel: cur.rel,
      content: cur.pieces.length === 1 ? cur.pieces[0]! : cur.pieces,
      mode: h.mode,
      chown: this.ownerChange(cur.rel, h, true),
      // Created with its permission bits (umask 0); chown clears setuid/setgid, so those come after.
      chmod: (h.mode & 0o7000) !== 0,
      uid: h.uid,
      gid: h.gid,
      atime: h.atime ?? h.mtime,
      mtime: h.mtime,
    });
    if (cur.ref !== undefined) this.liveRefs.set(cur.rel, cur.ref);
    this.cur = { kind: 'none' };
  }

  /** Sets directory times last (creating entries inside changes them); returns the notices. */
  finish(): string[] {
    this.queue.wait();
    this.queue.close(false);
    const ordered = [...this.dirTimes.entries()].sort((a, b) => depth(b[0]) - depth(a[0]));
    for (const [rel, [atime, mtime]] of ordered) lutimesSync(this.abs(rel), atime, mtime);
    return this.notices.list();
  }

  /** The caller has no more input for now: files still queued get created meanwhile (throws their failure). */
  idle(): void {
    this.queue.kick();
  }

  /**
   * The buffer of the data given so far is about to be reused: the file being unpacked keeps a
   * copy of its pieces, or writes them out if it is written as it comes.
   */
  detach(): void {
    const cur = this.cur;
    if (cur.kind !== 'file' || cur.pieces.length === 0) return;
    if (cur.queued) cur.pieces = [Buffer.concat(cur.pieces)];
    else this.flush(cur);
  }

  /** After a failure: stops the file queue without creating what it still holds. */
  abort(): void {
    this.queue.close(true);
  }

  private abs(rel: string): Buffer {
    return Buffer.from(rel === '' ? this.rootBytes : `${this.rootBytes}/${rel}`, 'latin1');
  }

  private startInline(size: number): void {
    if (size > 0) {
      this.split.beginInline();
      this.cur = { kind: 'inline' };
    } else {
      this.cur = { kind: 'none' };
    }
  }

  private regular(rel: string, h: TarHeader): void {
    if (rel === '') throw new UnsafeLayerError(`the layer entry "${displayName(h.name)}" would replace the layer's root directory with a file`);
    this.ensureParents(rel, h.name);
    const fresh = this.claim(rel);
    const ref = h.size > 0 ? this.split.addFile(rel, h.size) : undefined;
    const queued = fresh && h.size <= QUEUED_FILE_MAX && h.xattrs.size === 0;
    const cur: Current = { kind: 'file', rel, header: h, pieces: [], pending: 0, fd: undefined, ref, queued };
    this.cur = cur;
    if (!queued && h.size > FLUSH_BYTES) this.open(cur);
  }

  /**
   * Notes that rel is about to be created. False when this layer may already have put something
   * there: then the queue is waited for, so rel is what it will be and may be replaced.
   */
  private claim(rel: string): boolean {
    if (this.made.has(rel)) {
      this.queue.wait();
      return false;
    }
    this.made.add(rel);
    return true;
  }

  private open(cur: Extract<Current, { kind: 'file' }>): void {
    const path = this.abs(cur.rel);
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    const mode = cur.header.mode & 0o777;
    try {
      cur.fd = openSync(path, flags, mode);
    } catch (err) {
      if (code(err) !== 'EEXIST') throw err;
      this.remove(cur.rel);
      cur.fd = openSync(path, flags, mode);
    }
    // Registered only now: remove() above must see the earlier file's record, not this one.
    if (cur.ref !== undefined) this.liveRefs.set(cur.rel, cur.ref);
  }

  private flush(cur: Extract<Current, { kind: 'file' }>): void {
    if (cur.fd === undefined) this.open(cur);
    let pieces = cur.pieces;
    while (pieces.length > 0) {
      const n = writevSync(cur.fd!, pieces.slice(0, 1024));
      let left = n;
      let i = 0;
      while (i < pieces.length && left >= pieces[i]!.length) left -= pieces[i++]!.length;
      pieces = pieces.slice(i);
      if (left > 0) pieces[0] = pieces[0]!.subarray(left);
    }
    cur.pieces = [];
    cur.pending = 0;
  }

  private directory(rel: string, h: TarHeader): void {
    let created = false;
    if (rel !== '') {
      this.ensureParents(rel, h.name);
      created = this.makeDir(rel, h.mode | 0o700);
    }
    this.chown(rel, h, created);
    // mkdir (umask 0) gave a new directory its mode already, unless it lacks bits of 0700 or
    // has setuid/setgid, or a setgid parent passed its setgid bit on.
    const exact = created && (h.mode & 0o6700) === 0o700 && !this.setgidDirs.has(parentOf(rel));
    if (!exact) chmodSync(this.abs(rel), h.mode);
    if ((h.mode & 0o2000) !== 0) this.setgidDirs.add(rel);
    else this.setgidDirs.delete(rel);
    this.xattrs(rel, h);
    this.dirTimes.set(rel, [h.atime ?? h.mtime, h.mtime]);
  }

  /** mkdir that keeps an existing directory (dir over dir merges, as tar does); true when it made one. */
  private makeDir(rel: string, mode: number): boolean {
    this.claim(rel);
    const path = this.abs(rel);
    let created = true;
    try {
      mkdirSync(path, mode);
    } catch (err) {
      if (code(err) !== 'EEXIST') throw err;
      const st = lstatSync(path);
      if (st.isDirectory()) {
        created = false;
      } else {
        this.remove(rel);
        mkdirSync(path, mode);
      }
    }
    this.dirs.add(rel);
    // The kernel passes a parent's setgid bit on to a new directory.
    if (created && this.setgidDirs.has(parentOf(rel))) this.setgidDirs.add(rel);
    // A directory that replaces a whiteout of this same layer must hide what lies below it.
    if (this.whiteouts.delete(rel)) native().lsetxattr(path, this.opts.opaqueXattr, Buffer.from('y'));
    return created;
  }

  private symlink(rel: string, h: TarHeader): void {
    if (rel === '') throw new UnsafeLayerError(`the layer entry "${displayName(h.name)}" would replace the layer's root directory with a symlink`);
    this.ensureParents(rel, h.name);
    this.claim(rel);
    const path = this.abs(rel);
    const target = Buffer.from(h.linkname, 'latin1');
    try {
      symlinkSync(target, path);
    } catch (err) {
      if (code(err) !== 'EEXIST') throw err;
      this.remove(rel);
      symlinkSync(target, path);
    }
    this.chown(rel, h, true);
    this.xattrs(rel, h);
    lutimesSync(path, h.atime ?? h.mtime, h.mtime);
  }

  private hardlink(rel: string, h: TarHeader): void {
    const shown = displayName(h.name);
    if (rel === '') throw new UnsafeLayerError(`the layer entry "${shown}" would replace the layer's root directory with a hard link`);
    const target = cleanMemberPath(h.linkname, `hard link "${shown}" target`);
    if (target === '') throw new UnsafeLayerError(`the layer hard link "${shown}" points at the layer's root directory`);
    if (target === rel) return;
    // The target may still be on the queue.
    this.queue.wait();
    this.checkParents(target, `hard link "${shown}" target`, h.linkname);
    const st = lstatOrNull(this.abs(target));
    if (!st) throw new UnsafeLayerError(`the layer hard link "${shown}" points at "${displayName(h.linkname)}", which is not in the layer`);
    if (st.isDirectory()) throw new UnsafeLayerError(`the layer hard link "${shown}" points at the directory "${displayName(h.linkname)}"`);
    this.ensureParents(rel, h.name);
    this.claim(rel);
    const path = this.abs(rel);
    try {
      linkSync(this.abs(target), path);
    } catch (err) {
      if (code(err) !== 'EEXIST') throw err;
      this.remove(rel);
      linkSync(this.abs(target), path);
    }
  }

  private special(rel: string, h: TarHeader): void {
    if (rel === '') throw new UnsafeLayerError(`the layer entry "${displayName(h.name)}" would replace the layer's root directory`);
    const isDevice = h.type !== TarType.Fifo;
    this.ensureParents(rel, h.name);
    if (isDevice && this.opts.ownership !== 'root') {
      this.notices.add('devices', 'device nodes were skipped (a rootless user cannot create them)', rel);
      return;
    }
    this.claim(rel);
    const path = this.abs(rel);
    const type = h.type === TarType.Fifo ? S_IFIFO : h.type === TarType.CharDevice ? S_IFCHR : S_IFBLK;
    const make = () => native().mknod(path, type | (h.mode & 0o777), h.devmajor, h.devminor);
    try {
      make();
    } catch (err) {
      if (code(err) === 'EEXIST') {
        this.remove(rel);
        make();
      } else if (isDevice && code(err) === 'EPERM') {
        this.notices.add('devices', 'device nodes were skipped (creating them is not permitted here)', rel);
        return;
      } else {
        throw err;
      }
    }
    this.chown(rel, h, true);
    chmodSync(path, h.mode);
    this.xattrs(rel, h);
    lutimesSync(path, h.atime ?? h.mtime, h.mtime);
  }

  private whiteout(rel: string, base: string, h: TarHeader): void {
    const dir = parentOf(rel);
    if (base === OPAQUE) {
      if (dir !== '') {
        this.ensureParents(dir, h.name);
        this.makeDir(dir, 0o755);
      }
      native().lsetxattr(this.abs(dir), this.opts.opaqueXattr, Buffer.from('y'));
      return;
    }
    // Other .wh..wh.* names are aufs bookkeeping (hard link directories); they have no overlay form.
    if (base.startsWith(OPAQUE.slice(0, 8))) return;
    const name = base.slice(WHITEOUT.length);
    if (name === '' || name === '.' || name === '..') throw new UnsafeLayerError(`the layer has an invalid whiteout "${displayName(h.name)}"`);
    const target = dir === '' ? name : `${dir}/${name}`;
    this.ensureParents(target, h.name);
    // A whiteout only hides lower layers: something of this layer at that path stays.
    if (!this.claim(target) && lstatOrNull(this.abs(target))) return;
    native().mknod(this.abs(target), S_IFCHR, 0, 0);
    this.whiteouts.add(target);
  }

  /** Makes sure every parent of rel is a real directory inside the root, creating missing ones. */
  private ensureParents(rel: string, name: string): void {
    const parent = parentOf(rel);
    if (this.dirs.has(parent)) return;
    const parts = parent.split('/');
    let prefix = '';
    for (const part of parts) {
      prefix = prefix === '' ? part : `${prefix}/${part}`;
      if (this.dirs.has(prefix)) continue;
      if (this.made.has(prefix)) this.queue.wait();
      const st = lstatOrNull(this.abs(prefix));
      if (!st || (st.isCharacterDevice() && this.whiteouts.has(prefix))) {
        this.makeDir(prefix, 0o755);
      } else if (st.isSymbolicLink()) {
        throw new UnsafeLayerError(`the layer entry "${displayName(name)}" goes through the symbolic link "${displayName(prefix)}"`);
      } else if (!st.isDirectory()) {
        throw new UnsafeLayerError(`the layer entry "${displayName(name)}" needs "${displayName(prefix)}" to be a directory, but it is a file`);
      } else {
        this.dirs.add(prefix);
      }
    }
  }

  /** Like ensureParents but creates nothing: for the targets of hard links. */
  private checkParents(rel: string, what: string, name: string): void {
    let prefix = '';
    for (const part of parentOf(rel).split('/')) {
      if (part === '') break;
      prefix = prefix === '' ? part : `${prefix}/${part}`;
      if (this.dirs.has(prefix)) continue;
      if (this.made.has(prefix)) this.queue.wait();
      const st = lstatOrNull(this.abs(prefix));
      if (!st) throw new UnsafeLayerError(`the layer ${what} "${displayName(name)}" is not in the layer`);
      if (!st.isDirectory()) throw new UnsafeLayerError(`the layer ${what} "${displayName(name)}" goes through "${displayName(prefix)}", which is not a directory`);
      this.dirs.add(prefix);
    }
  }

  /** Removes what is at rel, first moving content the tar-split still reads from there inline. */
  private remove(rel: string): void {
    this.queue.wait();
    const path = this.abs(rel);
    const st = lstatSync(path);
    if (st.isDirectory()) {
      const prefix = `${rel}/`;
      for (const [ref, index] of [...this.liveRefs]) {
        if (ref.startsWith(prefix)) this.keepInline(ref, index);
      }
      rmSync(path, { recursive: true, force: true });
      this.dirs = new Set(['']);
      for (const key of [...this.dirTimes.keys()]) if (key === rel || key.startsWith(prefix)) this.dirTimes.delete(key);
      for (const key of [...this.whiteouts]) if (key.startsWith(prefix)) this.whiteouts.delete(key);
    } else {
      const index = this.liveRefs.get(rel);
      if (index !== undefined) this.keepInline(rel, index);
      unlinkSync(path);
    }
    this.whiteouts.delete(rel);
  }

  private keepInline(rel: string, index: number): void {
    const fd = openSync(this.abs(rel), constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      this.split.makeInline(index, readFileSync(fd));
    } finally {
      closeSync(fd);
    }
    this.liveRefs.delete(rel);
  }

  /** Sets the tar's owner on rel (through fd when given); created: this layer just made rel. */
  private chown(rel: string, h: TarHeader, created: boolean, fd?: number): void {
    if (!this.ownerChange(rel, h, created)) return;
    if (fd !== undefined) fchownSync(fd, h.uid, h.gid);
    else lchownSync(this.abs(rel), h.uid, h.gid);
  }

  /** Whether rel needs a chown to the tar's owner; throws when the owner is not mapped. */
  private ownerChange(rel: string, h: TarHeader, created: boolean): boolean {
    const { ownership, maxUid, maxGid } = this.opts;
    if (ownership === 'single') return false;
    if (ownership === 'userns' && (h.uid > maxUid || h.gid > maxGid)) {
      const [kind, id, max] = h.uid > maxUid ? ['uid', h.uid, maxUid] : ['gid', h.gid, maxGid];
      const user = this.opts.user ?? 'USER';
      const file = kind === 'uid' ? '/etc/subuid' : '/etc/subgid';
      throw new UnsafeLayerError(
        `the layer file "${displayName(rel) || '/'}" is owned by ${kind} ${id}, but only ids 0-${max} are mapped for ${user}: ` +
          `give ${user} a range of at least ${id + 1} ids in ${file} (as root: usermod --add-subuids START-END --add-subgids START-END ${user}, with a range no other user has) and retry`,
      );
    }
    // What we just created belongs to 0:0 (our ids), unless a setgid parent gave it its group.
    return !created || h.uid !== 0 || h.gid !== 0 || this.setgidDirs.has(parentOf(rel));
  }

  private xattrs(rel: string, h: TarHeader): void {
    if (h.xattrs.size === 0) return;
    for (const [name, value] of h.xattrs) {
      if (name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.')) {
        this.notices.add('overlay-xattr', 'overlay xattrs in the layer were ignored (they would change how layers stack)', rel);
        continue;
      }
      if (name.startsWith('trusted.') && this.opts.ownership !== 'root') {
        this.notices.add('trusted-xattr', 'trusted.* xattrs were skipped (only real root can set them)', rel);
        continue;
      }
      try {
        native().lsetxattr(this.abs(rel), name, value);
      } catch (err) {
        this.notices.add(`xattr-${name}`, `the xattr ${name} could not be set (${code(err) ?? 'error'})`, rel);
      }
    }
  }
}

function depth(rel: string): number {
  if (rel === '') return -1;
  let n = 0;
  for (let i = 0; i < rel.length; i++) if (rel.charCodeAt(i) === 0x2f) n++;
  return n;
}
