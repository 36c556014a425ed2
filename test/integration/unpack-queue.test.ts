import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { FileQueue } from '../../src/archive/file-queue.js';
import { reassembleLayer, startUnpack, type UnpackResult } from '../../src/engine/unpack.js';
import { detectIdMapping } from '../../src/runtime/idmap.js';
import { makeLayer, sha256, type LayerEntry } from '../fixtures/layers.js';
import { actors, CtrEnv, type Actor } from '../helpers/ctr.js';

// Small files are created on the addon's thread while the tar is parsed on (src/archive/file-queue.ts);
// these layers make later entries replace, link, hide and read back files that may still be queued.

const PLAIN = 'application/vnd.oci.image.layer.v1.tar';

const envs: CtrEnv[] = [];
afterAll(async () => {
  for (const env of envs) await env.cleanup();
});

function newEnv(actor: Actor): CtrEnv {
  const env = new CtrEnv(actor);
  envs.push(env);
  return env;
}

function layerDir(parent: string, actor: Actor, name: string): string {
  const dir = join(parent, name);
  mkdirSync(dir);
  chownSync(dir, actor.uid, actor.gid);
  return dir;
}

async function unpack(env: CtrEnv, dir: string, tar: Buffer): Promise<UnpackResult> {
  if (env.actor.kind === 'root') {
    const job = startUnpack({ dest: dir, mapping: detectIdMapping(), mediaType: PLAIN, name: 'test' });
    job.input.end(tar);
    return job.done;
  }
  const r = await env.ctr(['__layer', 'unpack', dir, '--media-type', PLAIN], { input: tar });
  if (r.code !== 0) throw new Error(r.stderr.trim());
  return JSON.parse(r.stdout) as UnpackResult;
}

async function reassembled(env: CtrEnv, dir: string): Promise<string> {
  if (env.actor.kind === 'root') {
    const chunks: Buffer[] = [];
    for await (const c of reassembleLayer(dir)) chunks.push(c as Buffer);
    return sha256(Buffer.concat(chunks));
  }
  const r = await env.exec(['sh', '-c', `${inject('ctrCommand').join(' ')} __layer tar ${dir} | sha256sum`]);
  expect(r.code).toBe(0);
  return `sha256:${r.stdout.split(' ')[0]}`;
}

function hostGid(actor: Actor, id: number): number {
  if (actor.kind === 'root') return id;
  if (id === 0) return actor.gid;
  const user = inject('testUser')!;
  const line = readFileSync('/etc/subgid', 'utf8').split('\n').find((l) => l.startsWith(`${user.name}:`))!;
  return Number(line.split(':')[1]) + id - 1;
}

/** Enough small files before each case that the queue is busy when the case comes. */
function filler(dir: string, n = 200): LayerEntry[] {
  return Array.from({ length: n }, (_, i) => ({ type: 'file' as const, path: `${dir}/f${i}`, content: `file ${i}\n`.repeat(i % 50) }));
}

function queueCases(): LayerEntry[] {
  return [
    { type: 'dir', path: 'a', mode: 0o755, mtime: 1600000000 },
    ...filler('a'),
    { type: 'file', path: 'a/twice', content: 'first' },
    { type: 'file', path: 'a/twice', content: 'second', mtime: 1600000123.25 },
    { type: 'file', path: 'a/to-symlink', content: 'x' },
    { type: 'symlink', path: 'a/to-symlink', target: 'f1' },
    { type: 'file', path: 'a/to-dir', content: 'x' },
    { type: 'dir', path: 'a/to-dir', mode: 0o755 },
    { type: 'file', path: 'a/to-dir/inside', content: 'in the directory' },
    { type: 'file', path: 'a/linked', content: 'shared inode', mode: 0o640 },
    { type: 'hardlink', path: 'a/link', target: 'a/linked' },
    { type: 'file', path: 'a/hidden', content: 'a whiteout of the same layer keeps me' },
    { type: 'whiteout', path: 'a/hidden' },
    ...filler('b'),
    { type: 'dir', path: 'b', mode: 0o555, mtime: 1600000001 },
    { type: 'dir', path: 'g', mode: 0o2775, gid: 50 },
    { type: 'file', path: 'g/implicit/root-owned', content: 'owned by 0:0 in the tar' },
    { type: 'symlink', path: 'g/link', target: 'implicit' },
    { type: 'file', path: 'g/group-owned', content: 'x', gid: 50 },
    ...filler('c'),
    { type: 'file', path: 'c', content: 'a file where a directory of queued files was' },
  ];
}

function st(diff: string, rel: string): Stats {
  return lstatSync(join(diff, rel));
}

for (const actor of actors()) {
  describe(`unpacking with background file creation as ${actor.kind}`, () => {
    it('creates what the tar says when later entries replace, link or hide files still being written', async () => {
      const env = newEnv(actor);
      const tar = makeLayer(queueCases());
      const dir = layerDir(env.dir, actor, 'layer');
      const result = await unpack(env, dir, tar);
      const diff = join(dir, 'diff');
      expect(result.diffId).toBe(sha256(tar));
      expect(await reassembled(env, dir)).toBe(sha256(tar));
      expect(readFileSync(join(diff, 'a/f7'), 'utf8')).toBe('file 7\n'.repeat(7));
      expect(readFileSync(join(diff, 'a/twice'), 'utf8')).toBe('second');
      // Times go through the same microsecond rounding as Node's futimes.
      expect(st(diff, 'a/twice').mtimeMs).toBe(1600000123250);
      expect(readlinkSync(join(diff, 'a/to-symlink'))).toBe('f1');
      expect(readFileSync(join(diff, 'a/to-dir/inside'), 'utf8')).toBe('in the directory');
      expect(st(diff, 'a/link').ino).toBe(st(diff, 'a/linked').ino);
      expect(st(diff, 'a/link').mode & 0o777).toBe(0o640);
      expect(readFileSync(join(diff, 'a/hidden'), 'utf8')).toMatch(/keeps me/);
      expect(st(diff, 'a').mtimeMs).toBe(1600000000000);
      expect(st(diff, 'b').mode & 0o7777).toBe(0o555);
      expect(st(diff, 'b').mtimeMs).toBe(1600000001000);
      expect(readFileSync(join(diff, 'b/f199'), 'utf8')).toBe('file 199\n'.repeat(49));
      expect(st(diff, 'g').mode & 0o7777).toBe(0o2775);
      // The kernel gives entries in a setgid directory its group; the tar's 0:0 must win.
      expect(st(diff, 'g/implicit/root-owned').gid).toBe(hostGid(actor, 0));
      // A directory the tar does not list is made as mkdir makes it, with the setgid parent's group.
      expect(st(diff, 'g/implicit').gid).toBe(hostGid(actor, 50));
      expect(st(diff, 'g/link').gid).toBe(hostGid(actor, 0));
      expect(st(diff, 'g/group-owned').gid).toBe(hostGid(actor, 50));
      expect(readFileSync(join(diff, 'c'), 'utf8')).toMatch(/a file where/);
    });

    // As the test user this also holds, but the parent then waits out a 30 s timer in engine/unpack.ts.
    it.runIf(actor.kind === 'root')('fails on a full disk with the file system error', async () => {
      const env = newEnv(actor);
      const small = join(env.dir, 'small-disk');
      mkdirSync(small);
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=1m,uid=${actor.uid},gid=${actor.gid},mode=0700`, 'ctr-test', small]);
      try {
        const dir = layerDir(small, actor, 'layer');
        const content = Buffer.alloc(64 * 1024, 7);
        const tar = makeLayer(Array.from({ length: 40 }, (_, i) => ({ type: 'file' as const, path: `f${i}`, content })));
        const error = await unpack(env, dir, tar).then(
          () => 'no error',
          (err: Error) => err.message,
        );
        expect(error).toMatch(/ENOSPC: no space left on device, (open|write|close)/);
      } finally {
        execFileSync('umount', [small]);
      }
    });
  });
}

describe('file queue', () => {
  it('reports a failure as Node would, naming the file, at the next wait', () => {
    const env = newEnv(actors()[0]!);
    const root = join(env.dir, 'queue');
    mkdirSync(root);
    const queue = new FileQueue(root, 1, 1 << 20);
    try {
      const file = { content: Buffer.from('x'), mode: 0o644, chown: false, chmod: false, uid: 0, gid: 0, atime: 1, mtime: 1 };
      queue.push({ ...file, rel: 'once' });
      queue.push({ ...file, rel: 'once' });
      expect(() => queue.wait()).toThrow(`EEXIST: file already exists, open '${root}/once'`);
      // The failure stays: nothing more is created.
      expect(() => queue.push({ ...file, rel: 'later' })).toThrow(/EEXIST/);
    } finally {
      queue.close(true);
    }
    expect(existsSync(join(root, 'later'))).toBe(false);
  });

  it('never follows a symlink in the path it is given', () => {
    const env = newEnv(actors()[0]!);
    const root = join(env.dir, 'queue');
    mkdirSync(root);
    execFileSync('ln', ['-s', env.dir, join(root, 'out')]);
    const queue = new FileQueue(root, 1, 1 << 20);
    try {
      queue.push({ rel: 'out/escaped', content: Buffer.from('x'), mode: 0o644, chown: false, chmod: false, uid: 0, gid: 0, atime: 1, mtime: 1 });
      expect(() => queue.wait()).toThrow(/ELOOP|EXDEV/);
    } finally {
      queue.close(true);
    }
    expect(existsSync(join(env.dir, 'escaped'))).toBe(false);
  });
});
