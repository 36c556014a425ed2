import { execFile } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { IdMapping } from './idmap.js';
import { findExecutable } from './idmap.js';

const run = promisify(execFile);

export type StorageMode = 'native overlay' | 'fuse-overlayfs' | 'copy';

/**
 * How container file systems will be made here: a real overlay mount in a scratch directory on
 * the store's file system (rootless: inside a user namespace, with userxattr), else
 * fuse-overlayfs when /dev/fuse can be opened, else a plain copy.
 */
export async function probeStorage(mapping: IdMapping, scratch: string): Promise<StorageMode> {
  for (const d of ['lower', 'upper', 'work', 'merged']) mkdirSync(join(scratch, d), { recursive: true });
  const opts = `lowerdir=${join(scratch, 'lower')},upperdir=${join(scratch, 'upper')},workdir=${join(scratch, 'work')}`;
  const userns = mapping.mode !== 'root';
  const argv = [
    ...(userns ? ['--user', '--map-root-user'] : []),
    '--mount',
    '--propagation',
    'private',
    '--',
    'mount',
    '-t',
    'overlay',
    'overlay',
    '-o',
    userns ? `${opts},userxattr` : opts,
    join(scratch, 'merged'),
  ];
  try {
    await run('unshare', argv, { timeout: 5000 });
    // overlay leaves work/work with mode 000; it is ours, so make it removable again.
    chmodSync(join(scratch, 'work', 'work'), 0o700);
    return 'native overlay';
  } catch {
    // fall through to the next mode
  }
  if (findExecutable('fuse-overlayfs')) {
    try {
      accessSync('/dev/fuse', constants.R_OK | constants.W_OK);
      return 'fuse-overlayfs';
    } catch {
      // /dev/fuse is 0600 root on some hosts: rootless fuse cannot work there
    }
  }
  return 'copy';
}
