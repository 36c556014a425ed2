/**
 * docker cp's path rules, as pure functions. A copy is a tar whose first member is the source
 * itself, named by the source's base name ("." for the contents of a directory given as
 * `dir/.`); the destination decides where that tar is unpacked and what its first member is
 * renamed to.
 */

/** `dir/` and `dir/.` say "a directory" (docker's assertsDirectory). */
export function assertsDirectory(path: string): boolean {
  return path.endsWith('/') || specifiesCurrentDir(path);
}

/** `dir/.` (or `.`): the contents of the directory, not the directory. */
export function specifiesCurrentDir(path: string): boolean {
  return path === '.' || path.endsWith('/.');
}

/** Lexically cleaned absolute form of a path inside a container ("" and relative paths are from /). */
export function cleanContainerPath(path: string): string {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return `/${out.join('/')}`;
}

/** The directory and the last component of a path; `dir/.` keeps '.' as its last component. */
export function splitPathDirEntry(path: string): { dir: string; base: string } {
  const absolute = path.startsWith('/');
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (specifiesCurrentDir(path)) parts.push('.');
  if (parts.length === 0) return { dir: absolute ? '/' : '.', base: absolute ? '/' : '.' };
  const base = parts.pop()!;
  const dir = parts.join('/');
  return { dir: absolute ? `/${dir}` : dir || '.', base };
}

/** What the source of a copy is. */
export interface SourceInfo {
  isDir: boolean;
  /** The name of the tar's first member: the source's base name, or '.' for a directory's contents. */
  name: string;
}

/** What is at the destination path (after following a symlink there). */
export interface DestinationInfo {
  path: string;
  exists: boolean;
  isDir: boolean;
}

export class CopyRuleError extends Error {}

export interface CopyPlan {
  /** Unpack the tar in this directory. */
  dir: string;
  /** Rename the first member (and everything below it) from `from` to `to`. */
  rebase?: { from: string; to: string };
}

/** docker's PrepareArchiveCopy: where a source's tar goes for a destination. */
export function planCopy(src: SourceInfo, dst: DestinationInfo): CopyPlan {
  const { dir: dstDir, base: dstBase } = splitPathDirEntry(dst.path);
  if (dst.exists && dst.isDir) {
    // Copied into the directory, under the source's own name (or its contents straight in).
    return { dir: dst.path };
  }
  if (dst.exists && src.isDir) throw new CopyRuleError(`cannot copy a directory to ${dst.path}, which is a file`);
  if (dst.exists) return { dir: dstDir, rebase: { from: src.name, to: dstBase } };
  if (!src.isDir && assertsDirectory(dst.path)) throw new CopyRuleError(`the directory ${dst.path} does not exist; create it first or leave out the trailing slash`);
  // A new file or directory named as the destination, made in its parent.
  return { dir: dstDir, rebase: { from: src.name, to: dstBase } };
}

/** A member name after a rebase: `from` and what is below it move to `to`. */
export function rebaseName(name: string, rebase: CopyPlan['rebase']): string {
  if (!rebase) return name;
  const { from, to } = rebase;
  if (name === from || name === `${from}/`) return name.length > from.length ? `${to}/` : to;
  if (name.startsWith(`${from}/`)) return `${to}${name.slice(from.length)}`;
  return name;
}

/** A `ctr cp` argument: a container path (NAME:PATH) or a local one (absolute paths are always local, as in docker). */
export type CopyEndpoint = { kind: 'container'; container: string; path: string } | { kind: 'local'; path: string };

export function parseCopyArg(arg: string): CopyEndpoint {
  if (arg.startsWith('/') || arg.startsWith('.')) return { kind: 'local', path: arg };
  const colon = arg.indexOf(':');
  if (colon <= 0) return { kind: 'local', path: arg };
  return { kind: 'container', container: arg.slice(0, colon), path: arg.slice(colon + 1) };
}
