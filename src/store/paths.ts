import { mkdirSync, lstatSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CtrError, errnoCode } from '../errors.js';

export interface StoreLocation {
  /** Persistent data: images, layers, containers, volumes. */
  root: string;
  /** Runtime state that must not survive a reboot: container processes, locks of live things. */
  runroot: string;
  rootless: boolean;
}

export interface LocationOptions {
  root?: string;
  runroot?: string;
}

/**
 * Where the store lives: flags, then CTR_ROOT/CTR_RUNROOT, then the defaults
 * (root: /var/lib/ctr and /run/ctr; users: $XDG_DATA_HOME/ctr and $XDG_RUNTIME_DIR/ctr).
 */
export function resolveLocation(opts: LocationOptions = {}, env: NodeJS.ProcessEnv = process.env): StoreLocation {
  const uid = process.getuid?.() ?? 0;
  const rootless = uid !== 0;
  const root = opts.root || env.CTR_ROOT || (rootless ? join(dataHome(env), 'ctr') : '/var/lib/ctr');
  const runroot = opts.runroot || env.CTR_RUNROOT || (rootless ? join(runtimeDir(env, uid), 'ctr') : '/run/ctr');
  return { root: resolve(root), runroot: resolve(runroot), rootless };
}

function dataHome(env: NodeJS.ProcessEnv): string {
  if (env.XDG_DATA_HOME) return env.XDG_DATA_HOME;
  const home = env.HOME || homedir();
  return join(home, '.local', 'share');
}

/** XDG_RUNTIME_DIR is often unset after su/runuser: fall back to a private /tmp/ctr-run-UID. */
function runtimeDir(env: NodeJS.ProcessEnv, uid: number): string {
  if (env.XDG_RUNTIME_DIR) return env.XDG_RUNTIME_DIR;
  const dir = join(tmpdir(), `ctr-run-${uid}`);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw new CtrError(`create the runtime directory ${dir}: ${(err as Error).message}; set XDG_RUNTIME_DIR to a private directory`);
  }
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw new CtrError(`the runtime directory ${dir} is not a private directory owned by uid ${uid}; remove it or set XDG_RUNTIME_DIR`);
  }
  return dir;
}
