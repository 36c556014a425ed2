import { loadAddon } from './load.js';

/** System calls Node lacks, from our own N-API addon (src/native/ctr_native.c). */
export interface Native {
  /** Takes a lock on an open file; false when nonblocking and the lock is held elsewhere. */
  flock(fd: number, exclusive: boolean, nonblocking: boolean): boolean;
  funlock(fd: number): void;
  /** Paths may be Buffers of raw bytes: file names from a tar need not be valid UTF-8. */
  lsetxattr(path: string | Buffer, name: string, value: Buffer): void;
  /** null when the attribute is absent or the file system has no xattrs. */
  lgetxattr(path: string | Buffer, name: string): Buffer | null;
  llistxattr(path: string | Buffer): string[];
  /** mode carries the file type bits (S_IFIFO, S_IFCHR, S_IFBLK) and the permissions. */
  mknod(path: string | Buffer, mode: number, major: number, minor: number): void;
  /** Flushes the whole file system that holds the open file fd. */
  syncfs(fd: number): void;
}

let cached: Native | undefined;

export function native(): Native {
  cached ??= loadAddon() as Native;
  return cached;
}
