import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync, type Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { reassembleLayer, removeTree, startUnpack, type UnpackResult } from '../../src/engine/unpack.js';
import { native } from '../../src/native/index.js';
import { detectIdMapping } from '../../src/runtime/idmap.js';
import { BIG_CONTENT as BIG, CAP_NET_RAW, everyCaseEntries, gzip, LATIN1_NAME, LONG_FILE, makeLayer, sha256, zstd, type LayerEntry } from '../fixtures/layers.js';
import { actors, CtrEnv, hostId, type Actor } from '../helpers/ctr.js';

const MEDIA = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  none: 'application/vnd.oci.image.layer.v1.tar',
};
type Compression = keyof typeof MEDIA;

const SINK_TAR = makeLayer(everyCaseEntries(), { recordSize: 10240 });

function compress(tar: Buffer, c: Compression): Buffer {
  return c === 'gzip' ? gzip(tar) : c === 'zstd' ? zstd(tar) : tar;
}

interface Unpacked {
  dir: string;
  diff: string;
  result: UnpackResult;
}

const envs: CtrEnv[] = [];
afterAll(async () => {
  for (const env of envs) await env.cleanup();
});

function newEnv(actor: Actor): CtrEnv {
  const env = new CtrEnv(actor);
  envs.push(env);
  return env;
}

function layerDir(env: CtrEnv, name: string): string {
  const dir = join(env.dir, name);
  mkdirSync(dir);
  chownSync(dir, env.actor.uid, env.actor.gid);
  return dir;
}

function ctrLine(): string {
  return inject('ctrCommand').join(' ');
}

/** Unpacks as the actor: root calls the engine in this process; the test user runs the built ctr. */
async function unpackAs(env: CtrEnv, blob: Buffer, c: Compression, extra: string[] = []): Promise<Unpacked> {
  const dir = layerDir(env, `layer-${Math.random().toString(36).slice(2)}`);
  if (env.actor.kind === 'root' && extra.length === 0) {
    const job = startUnpack({ dest: dir, mapping: detectIdMapping(), mediaType: MEDIA[c], name: 'test' });
    job.input.end(blob);
    return { dir, diff: join(dir, 'diff'), result: await job.done };
  }
  const r = await env.ctr(['__layer', 'unpack', dir, '--media-type', MEDIA[c], ...extra], { input: blob });
  if (r.code !== 0) throw new Error(`ctr __layer unpack failed (${r.code}): ${r.stderr}`);
  return { dir, diff: join(dir, 'diff'), result: JSON.parse(r.stdout) as UnpackResult };
}

async function reassembledDigest(env: CtrEnv, dir: string): Promise<string> {
  if (env.actor.kind === 'root') {
    const chunks: Buffer[] = [];
    for await (const c of reassembleLayer(dir)) chunks.push(c as Buffer);
    return sha256(Buffer.concat(chunks));
  }
  const r = await env.exec(['sh', '-c', `${ctrLine()} __layer tar ${dir} | sha256sum`]);
  expect(r.code).toBe(0);
  return `sha256:${r.stdout.split(' ')[0]}`;
}

/** Why rebuilding the layer's tar failed ('' if it did not), as the actor. */
async function rebuildError(env: CtrEnv, dir: string): Promise<string> {
  if (env.actor.kind === 'root') {
    try {
      for await (const _ of reassembleLayer(dir));
      return '';
    } catch (err) {
      return (err as Error).message;
    }
  }
  const r = await env.ctr(['__layer', 'tar', dir]);
  return r.code === 0 ? '' : r.stderr;
}


function st(diff: string, rel: string | Buffer): Stats {
  return lstatSync(typeof rel === 'string' ? join(diff, rel) : Buffer.concat([Buffer.from(`${diff}/`), rel]));
}

for (const actor of actors()) {
  describe(`unpacking layers as ${actor.kind}`, () => {
    for (const c of ['gzip', 'zstd', 'none'] as const) {
      it(`unpacks a ${c} layer whose tar-split rebuilds the exact tar`, async () => {
        const env = newEnv(actor);
        const u = await unpackAs(env, compress(SINK_TAR, c), c);
        expect(u.result.diffId).toBe(sha256(SINK_TAR));
        expect(u.result.size).toBe(SINK_TAR.length);
        expect(await reassembledDigest(env, u.dir)).toBe(sha256(SINK_TAR));
        expect(readFileSync(join(u.diff, 'big/blob.bin')).equals(BIG)).toBe(true);
      });
    }

    it('keeps the content of files that straddle the 1 MiB buffers the layer is decompressed into', async () => {
      // 400 files of 1-40 KiB and three of 1.5 MiB (written as they come, not queued): ~10 MiB, so
      // dozens of files cross from one buffer into the next, in both ways of writing them.
      const entries: LayerEntry[] = [{ type: 'dir', path: 'd' }];
      const files = new Map<string, Buffer>();
      for (let i = 0; i < 403; i++) {
        const content = randomBytes(i % 134 === 0 ? (3 << 19) + i : 1024 + ((i * 7919) % 40000));
        files.set(`d/f${i}`, content);
        entries.push({ type: 'file', path: `d/f${i}`, content });
      }
      const tar = makeLayer(entries);
      const env = newEnv(actor);
      for (const c of ['gzip', 'zstd', 'none'] as const) {
        const u = await unpackAs(env, compress(tar, c), c);
        expect(u.result.diffId).toBe(sha256(tar));
        for (const [rel, content] of files) expect(readFileSync(join(u.diff, rel)).equals(content), `${c} ${rel}`).toBe(true);
      }
    });

    it('keeps owners, modes, links, xattrs and times', async () => {
      const env = newEnv(actor);
      const { diff, result } = await unpackAs(env, gzip(SINK_TAR), 'gzip');
      const data = st(diff, 'home/app/data');
      expect([data.uid, data.gid, data.mode & 0o7777]).toEqual([hostId(actor, 1000), hostId(actor, 1000, 'gid'), 0o600]);
      expect(st(diff, 'home/app').mode & 0o7777).toBe(0o750);
      expect(st(diff, 'home/app').mtimeMs).toBe(1650000000 * 1000);
      expect(st(diff, '.').mtimeMs).toBe(1500000000 * 1000);
      expect(st(diff, 'etc').mtimeMs).toBe(1600000000 * 1000);
      expect(st(diff, 'usr/bin/passwd').mode & 0o7777).toBe(0o4755);
      expect(st(diff, 'usr/bin/wall').mode & 0o7777).toBe(0o2755);
      expect(st(diff, 'usr/bin/wall').gid).toBe(hostId(actor, 5, 'gid'));
      expect(st(diff, 'tmp').mode & 0o7777).toBe(0o1777);
      expect(st(diff, 'usr/bin/passwd').uid).toBe(hostId(actor, 0));
      expect(st(diff, 'big/blob.bin').uid).toBe(hostId(actor, 33));
      expect(st(diff, 'usr/bin/passwd-link').ino).toBe(st(diff, 'usr/bin/passwd').ino);
      expect(st(diff, 'bin-link').isSymbolicLink()).toBe(true);
      expect(readlinkSync(join(diff, 'bin'))).toBe('usr/bin');
      expect(readlinkSync(join(diff, 'etc/localtime'))).toBe('/usr/share/zoneinfo/UTC');
      expect(readlinkSync(join(diff, 'dangling'))).toBe('does/not/exist');
      expect(readlinkSync(join(diff, 'long-target'))).toBe(`/${'t'.repeat(150)}`);
      const fifo = st(diff, 'run/ctl');
      expect([fifo.isFIFO(), fifo.mode & 0o777, fifo.uid, fifo.gid]).toEqual([true, 0o620, hostId(actor, 2), hostId(actor, 3, 'gid')]);
      expect(readFileSync(join(diff, 'etc/hostname'), 'utf8')).toBe('second\n');
      expect(st(diff, 'etc/hostname').mtimeMs).toBe(1600000002 * 1000);
      expect(readFileSync(join(diff, LONG_FILE), 'utf8')).toBe('long name');
      expect(readFileSync(join(diff, 'utf8/Grüße-日本.txt'), 'utf8')).toBe('utf-8 name');
      expect(readFileSync(Buffer.concat([Buffer.from(`${diff}/`), LATIN1_NAME]), 'utf8')).toBe('latin-1 name');
      expect(st(diff, 'replace/was-file').isDirectory()).toBe(true);
      expect(readFileSync(join(diff, 'replace/was-dir'), 'utf8')).toBe('a file now');
      expect(native().lgetxattr(join(diff, 'home/app/data'), 'user.note')?.toString()).toBe('hello');
      const cap = native().lgetxattr(join(diff, 'usr/bin/ping'), 'security.capability')!;
      if (actor.kind === 'root') {
        expect(cap).toEqual(CAP_NET_RAW);
      } else {
        // In a user namespace the kernel stores a v3 capability whose root is the user's own uid.
        expect(cap.readUInt32LE(0) >>> 24).toBe(3);
        expect(cap.readUInt32LE(20)).toBe(actor.uid);
      }
      if (actor.kind === 'root') {
        const dev = st(diff, 'dev/null');
        expect([dev.isCharacterDevice(), dev.rdev]).toEqual([true, (1 << 8) | 3]);
        expect(result.notices).toEqual([]);
      } else {
        expect(existsSync(join(diff, 'dev/null'))).toBe(false);
        expect(result.notices.join('\n')).toMatch(/device nodes were skipped.*dev\/null/);
      }
    });

    it('writes whiteouts and opaque directories in overlay form', async () => {
      const env = newEnv(actor);
      const { diff } = await unpackAs(env, gzip(SINK_TAR), 'gzip');
      const wh = st(diff, 'etc/removed.conf');
      expect([wh.isCharacterDevice(), wh.rdev]).toEqual([true, 0]);
      expect(existsSync(join(diff, 'etc/.wh.removed.conf'))).toBe(false);
      const opaque = actor.kind === 'root' ? 'trusted.overlay.opaque' : 'user.overlay.opaque';
      expect(native().lgetxattr(join(diff, 'var/cache'), opaque)?.toString()).toBe('y');
      expect(readFileSync(join(diff, 'var/cache/kept'), 'utf8')).toBe('kept');
      expect(readdirSync(join(diff, 'var/cache'))).toEqual(['kept']);
    });

    it('refuses layers that write outside their directory and leaves nothing behind', async () => {
      const env = newEnv(actor);
      const outside = mkdtempSync(join(tmpdir(), 'ctr-outside-'));
      execFileSync('chmod', ['0777', outside]);
      const cases: [string, LayerEntry[], RegExp][] = [
        ['dot-dot', [{ type: 'file', path: '../escaped', content: 'x' }], /"\.\.\/escaped" points outside the layer/],
        ['absolute', [{ type: 'file', path: `${outside}/abs`, content: 'x' }], /has an absolute path/],
        [
          'symlinked parent',
          [
            { type: 'symlink', path: 'a', target: outside },
            { type: 'file', path: 'a/pwned', content: 'x' },
          ],
          /"a\/pwned" goes through the symbolic link "a"/,
        ],
        [
          'deep symlinked parent',
          [
            { type: 'dir', path: 'x' },
            { type: 'symlink', path: 'x/y', target: '../../../../../../..' + outside },
            { type: 'dir', path: 'x/y/z' },
          ],
          /goes through the symbolic link "x\/y"/,
        ],
        ['hard link outside', [{ type: 'hardlink', path: 'h', target: '../../../etc/passwd' }], /hard link "h" target "\.\.\/\.\.\/\.\.\/etc\/passwd" points outside/],
        ['absolute hard link', [{ type: 'hardlink', path: 'h', target: '/etc/passwd' }], /absolute path/],
        ['hard link to a missing file', [{ type: 'hardlink', path: 'h', target: 'nothing/here' }], /hard link "h" target "nothing\/here" is not in the layer/],
        [
          'hard link through a symlink',
          [
            { type: 'symlink', path: 'etc', target: '/etc' },
            { type: 'hardlink', path: 'h', target: 'etc/passwd' },
          ],
          /"etc", which is not a directory/,
        ],
      ];
      for (const [name, entries, message] of cases) {
        const dir = layerDir(env, `evil-${name.replace(/ /g, '-')}`);
        const blob = gzip(makeLayer(entries));
        let error: string;
        if (actor.kind === 'root') {
          const job = startUnpack({ dest: dir, mapping: detectIdMapping(), mediaType: MEDIA.gzip, name: 'sha256:evil' });
          job.input.end(blob);
          error = await job.done.then(
            () => 'no error',
            (err: Error) => err.message,
          );
          expect(error).toMatch(/^cannot unpack layer sha256:evil: /);
          await removeTree(dir, detectIdMapping());
        } else {
          const r = await env.ctr(['__layer', 'unpack', dir], { input: blob });
          expect(r.code, name).toBe(125);
          error = r.stderr;
          expect((await env.ctr(['__layer', 'rm', dir])).code).toBe(0);
        }
        expect(error, name).toMatch(message);
        expect(existsSync(dir), name).toBe(false);
      }
      expect(readdirSync(outside)).toEqual([]);
      expect(existsSync(join(env.dir, 'escaped'))).toBe(false);
      rmSync(outside, { recursive: true });
    });

    it('reports a corrupt or truncated layer', async () => {
      const env = newEnv(actor);
      const blob = gzip(SINK_TAR);
      const cut = blob.subarray(0, Math.floor(blob.length / 2));
      const err = await unpackAs(env, cut, 'gzip').then(
        () => 'no error',
        (e: Error) => e.message,
      );
      expect(err).toMatch(/gzip data is corrupt or truncated|truncated/);
      const notTar = await unpackAs(env, Buffer.from('this is not a layer at all, just text that goes on and on'), 'none').then(
        () => 'no error',
        (e: Error) => e.message,
      );
      expect(notTar).toMatch(/neither gzip, zstd nor a tar archive/);
    });

    // Rootless, a layer whose files the user can read is rebuilt by ctr itself, one with a file
    // only a subordinate id can read by a worker in the user namespace: both must notice.
    for (const [kind, tar, path] of [
      ['readable', makeLayer([{ type: 'dir', path: 'data', mode: 0o755 }, { type: 'file', path: 'data/blob.bin', content: BIG, mode: 0o644 }]), 'data/blob.bin'],
      ['partly unreadable', SINK_TAR, 'big/blob.bin'],
    ] as const) {
      it(`refuses to rebuild a ${kind} layer whose files changed since it was unpacked`, async () => {
        const env = newEnv(actor);
        const { dir, diff } = await unpackAs(env, tar, 'none');
        const file = join(diff, path);
        const bytes = readFileSync(file);
        bytes[bytes.length >> 1]! ^= 1;
        writeFileSync(file, bytes);
        expect(await rebuildError(env, dir)).toMatch(/no longer matches its digest/);
        writeFileSync(file, bytes.subarray(1));
        expect(await rebuildError(env, dir)).toMatch(/blob\.bin changed since it was unpacked/);
      });
    }

    if (actor.kind === 'root') {
      it('stops the worker when the pull is aborted', async () => {
        const env = newEnv(actor);
        const dir = layerDir(env, 'aborted');
        const job = startUnpack({ dest: dir, mapping: detectIdMapping(), mediaType: MEDIA.gzip, name: 'sha256:cut' });
        const blob = gzip(SINK_TAR);
        job.input.write(blob.subarray(0, 1000));
        job.abort();
        await expect(job.done).rejects.toThrow('unpacking layer sha256:cut was aborted');
        await removeTree(dir, detectIdMapping());
        expect(existsSync(dir)).toBe(false);
      });
    }

    if (actor.kind === 'user') {
      it('removes a layer whose files belong to subordinate ids', async () => {
        const env = newEnv(actor);
        const { dir } = await unpackAs(env, gzip(SINK_TAR), 'gzip');
        // home/app is 0750 and owned by container uid 1000: the user alone cannot empty it.
        const plain = await env.exec(['rm', '-rf', dir]);
        expect(plain.code).not.toBe(0);
        const r = await env.ctr(['__layer', 'rm', dir]);
        expect(r.code, r.stderr).toBe(0);
        expect(existsSync(dir)).toBe(false);
      });

      it('shows the layer owners inside the user namespace', async () => {
        const env = newEnv(actor);
        const { diff } = await unpackAs(env, gzip(SINK_TAR), 'gzip');
        const r = await env.ctr(['__userns', '--', 'stat', '-c', '%u:%g %a', join(diff, 'home/app/data'), join(diff, 'run/ctl'), join(diff, 'usr/bin/passwd')]);
        expect(r.stderr).toBe('');
        expect(r.stdout.trim().split('\n')).toEqual(['1000:1000 600', '2:3 620', '0:0 4755']);
      });

      it('names the file and the fix when an owner is beyond the subuid range', async () => {
        const env = newEnv(actor);
        const blob = gzip(makeLayer([{ type: 'file', path: 'opt/far', content: 'x', uid: 70000 }]));
        const dir = layerDir(env, 'far');
        const r = await env.ctr(['__layer', 'unpack', dir], { input: blob });
        expect(r.code).toBe(125);
        expect(r.stderr).toMatch(/"opt\/far" is owned by uid 70000, but only ids 0-65536 are mapped for ctrtest.*\/etc\/subuid.*usermod --add-subuids/);
      });

      it('unpacks with a single id when there are no subordinate ids', async () => {
        const env = newEnv(actor);
        const u = await unpackAs(env, gzip(SINK_TAR), 'gzip', ['--single']);
        expect(u.result.diffId).toBe(sha256(SINK_TAR));
        for (const rel of ['home/app/data', 'run/ctl', 'big/blob.bin', 'usr/bin/passwd']) {
          expect([st(u.diff, rel).uid, st(u.diff, rel).gid], rel).toEqual([actor.uid, actor.gid]);
        }
        expect(st(u.diff, 'usr/bin/passwd').mode & 0o7777).toBe(0o4755);
        const r = await env.exec(['sh', '-c', `${ctrLine()} __layer tar --single ${u.dir} | sha256sum`]);
        expect(`sha256:${r.stdout.split(' ')[0]}`).toBe(sha256(SINK_TAR));
      });
    }
  });
}
