import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as sea from 'node:sea';
import { randomHex } from '../random.js';

/** The key under which build.mjs stores build/ctr_native.node in the single executable. */
export const ADDON_ASSET = 'ctr_native.node';
/** The addon's sha256 (hex), which build.mjs stores beside it. */
const ADDON_HASH_ASSET = 'ctr_native.node.sha256';

/**
 * Loads our N-API addon: from the single executable's asset (through a per-user cache file,
 * since dlopen needs a path), else from build/ beside the bundle (dist/../build) or the source tree.
 */
export function loadAddon(): unknown {
  if (!sea.isSea()) return dlopen(findBuiltAddon());
  const content = Buffer.from(sea.getRawAsset(ADDON_ASSET));
  const cached = cachedAssetFile(content, process.env, sea.getAsset(ADDON_HASH_ASSET, 'utf8'));
  if (cached) return dlopen(cached);
  // No usable cache: a throwaway copy will do, and a loaded library no longer needs its file.
  const dir = mkdtempSync(join(tmpdir(), 'ctr-native-'));
  try {
    const file = join(dir, ADDON_ASSET);
    writeFileSync(file, content, { mode: 0o500 });
    return dlopen(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function dlopen(file: string): unknown {
  const mod = { exports: {} as unknown };
  process.dlopen(mod, file);
  return mod.exports;
}

function findBuiltAddon(): string {
  const candidates = [
    join(dirname(__filename), '..', 'build', 'ctr_native.node'),
    join(dirname(__filename), '..', '..', 'build', 'ctr_native.node'),
  ];
  const found = candidates.find((file) => existsSync(file));
  if (found) return found;
  throw new Error(`the native addon ctr_native.node was not found (looked in ${candidates.join(', ')}): run npm run build`);
}

/**
 * Returns a cache file holding `content`, named by its sha256 (given, or computed) so every version of ctr gets its
 * own and a file, once written, never changes: in the user's cache, else in a private
 * directory in the temp dir; undefined when neither can be used.
 */
export function cachedAssetFile(content: Buffer, env: NodeJS.ProcessEnv = process.env, sha256 = createHash('sha256').update(content).digest('hex')): string | undefined {
  const name = `native-${sha256.slice(0, 16)}.node`;
  for (const dir of cacheDirs(env)) {
    const file = join(dir, name);
    try {
      if (!privateDir(dir)) continue;
      if (!sameContent(file, content)) writeAtomically(file, content);
      return file;
    } catch {
      // An unwritable or odd cache location: the next candidate will do.
    }
  }
  return undefined;
}

/** The candidates in order, each worked out only when the one before cannot be used (every start asks). */
function* cacheDirs(env: NodeJS.ProcessEnv): Generator<string> {
  if (env.XDG_CACHE_HOME?.startsWith('/')) yield join(env.XDG_CACHE_HOME, 'ctr');
  const home = env.HOME?.startsWith('/') ? env.HOME : safeHomedir();
  // A missing home is not ours to create (HOME=/nonexistent is common for service users).
  if (home && home !== '/' && isDirectory(home)) yield join(home, '.cache', 'ctr');
  yield join(tmpdir(), `ctr-${hostUid()}`);
}

/**
 * Our uid as the temp dir's owner knows it: inside a user namespace (rootless workers) we are
 * uid 0, but the directory a run outside made is named after the user's real uid.
 */
function hostUid(): number {
  const uid = process.getuid!();
  try {
    for (const line of readFileSync('/proc/self/uid_map', 'utf8').trim().split('\n')) {
      const [inside, outside, count] = line.trim().split(/\s+/).map(Number) as [number, number, number];
      if (uid >= inside && uid < inside + count) return outside + (uid - inside);
    }
  } catch {
    // No /proc: the uid we see is the best we know.
  }
  return uid;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function safeHomedir(): string | undefined {
  try {
    return homedir();
  } catch {
    return undefined;
  }
}

/**
 * Creates dir (mode 0700) when missing; true when it is a real directory owned by us that no
 * one else can write. Inside a user namespace both our uid and the owner read as the mapped
 * id, so the comparison still holds; nothing is chowned.
 */
function privateDir(dir: string): boolean {
  let st = lstatSync(dir, { throwIfNoEntry: false });
  if (!st) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    st = lstatSync(dir);
  }
  return st.isDirectory() && st.uid === process.getuid!() && (st.mode & 0o022) === 0;
}

function sameContent(file: string, content: Buffer): boolean {
  try {
    return readFileSync(file).equals(content);
  } catch {
    return false;
  }
}

function writeAtomically(file: string, content: Buffer): void {
  const temp = `${file}.${process.pid}-${randomHex(4)}.tmp`;
  try {
    writeFileSync(temp, content, { mode: 0o500, flag: 'wx' });
    renameSync(temp, file);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}
