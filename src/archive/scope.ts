import { closeSync, constants, lstatSync, mkdirSync, openSync, readlinkSync, type Stats } from 'node:fs';
import { displayName } from './tar.js';

/** open(2)'s O_PATH (Linux, every architecture ctr runs on); Node's constants lack it. */
export const O_PATH = 0o10000000;
const MAX_LINKS = 255;

/**
 * A path through an open directory: one component after the fd, so nothing but `name` is looked
 * up. The name is a byte string (names need not be UTF-8); the result is its exact bytes.
 */
export function at(dirFd: number, name: string): Buffer {
  return Buffer.from(`/proc/self/fd/${dirFd}/${name}`, 'latin1');
}

export class ScopeError extends Error {
  constructor(
    message: string,
    readonly code: 'ENOENT' | 'ENOTDIR' | 'ELOOP',
  ) {
    super(message);
  }
}

/** Where a path led: its parent directory (open, close it when done) and its last component. */
export interface Resolved {
  dirFd: number;
  /** The last component (a byte string), or '.' when the path is the root itself. */
  name: string;
  /** The path inside the root that it resolved to, e.g. /etc/passwd (a byte string). */
  path: string;
}

export interface ResolveOptions {
  /** Follow a symlink in the last component too (inside the root). */
  followFinal?: boolean;
  /** Make missing directories on the way, through this function (dirFd, name). */
  mkdir?: (dirFd: number, name: string) => void;
}

/**
 * A directory that paths are resolved inside, as a chroot would: `..` stops at the root and
 * symlinks, absolute or relative, are followed inside it (docker's FollowSymlinkInScope).
 * Every step opens one component below an open directory with O_NOFOLLOW, so a symlink swapped
 * in meanwhile fails the step instead of leading out. Paths inside it are byte strings (see
 * tar.ts byteString); the root is a path of this machine as text.
 */
export class Scope {
  readonly rootFd: number;

  constructor(readonly root: string) {
    this.rootFd = openSync(root, O_PATH | constants.O_DIRECTORY);
  }

  close(): void {
    closeSync(this.rootFd);
  }

  resolve(path: string, opts: ResolveOptions = {}): Resolved {
    const stack: { fd: number; name: string }[] = [];
    const cur = () => stack.at(-1)?.fd ?? this.rootFd;
    const inside = (name?: string) => `/${[...stack.map((s) => s.name), ...(name === undefined ? [] : [name])].join('/')}`;
    const shown = (name?: string) => displayName(inside(name));
    const closeAll = () => {
      for (const s of stack.splice(0)) closeSync(s.fd);
    };
    const result = (name: string): Resolved => {
      const dirFd = openSync(at(cur(), '.'), O_PATH | constants.O_DIRECTORY);
      const out = { dirFd, name, path: name === '.' ? inside() : inside(name) };
      closeAll();
      return out;
    };
    const queue = path.split('/');
    let links = 0;
    try {
      while (queue.length > 0) {
        const part = queue.shift()!;
        if (part === '' || part === '.') continue;
        if (part === '..') {
          const top = stack.pop();
          if (top) closeSync(top.fd);
          continue;
        }
        const last = queue.every((p) => p === '' || p === '.');
        if (last && !opts.followFinal) return result(part);
        let st: Stats;
        try {
          st = lstatSync(at(cur(), part));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          if (last) return result(part);
          if (!opts.mkdir) throw new ScopeError(`${shown(part)} does not exist`, 'ENOENT');
          opts.mkdir(cur(), part);
          st = lstatSync(at(cur(), part));
        }
        if (st.isSymbolicLink()) {
          if (++links > MAX_LINKS) throw new ScopeError(`too many symbolic links in ${displayName(path)}`, 'ELOOP');
          const target = readlinkSync(at(cur(), part), { encoding: 'latin1' });
          if (target.startsWith('/')) closeAll();
          queue.unshift(...target.split('/'));
          continue;
        }
        if (last) return result(part);
        if (!st.isDirectory()) throw new ScopeError(`${shown(part)} is not a directory`, 'ENOTDIR');
        const fd = openSync(at(cur(), part), O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW);
        stack.push({ fd, name: part });
      }
      return result('.');
    } catch (err) {
      closeAll();
      throw err;
    }
  }

  /** lstat of a resolved path, or undefined when nothing is there. */
  static lstat(r: Resolved): Stats | undefined {
    try {
      return lstatSync(at(r.dirFd, r.name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }
}

/** mkdir for Scope.resolve's `mkdir` option: a plain 0755 directory. */
export function makeDir(dirFd: number, name: string): void {
  mkdirSync(at(dirFd, name), 0o755);
}
