import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lchownSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { actors, asActor, CtrEnv, hostId } from '../helpers/ctr.js';
import { native } from '../../src/native/index.js';
import { CAP_NET_RAW, makeLayer } from '../fixtures/layers.js';
import { PASSWD } from '../fixtures/run-images.js';
import { useRunImages } from '../fixtures/run-registry.js';

const images = useRunImages();

/** Member lines of a tar as GNU tar lists them with numeric ids: "TYPE+MODE UID/GID NAME[ -> TARGET]". */
function listTar(tar: Buffer): string[] {
  return execFileSync('tar', ['-tvn', '--numeric-owner', '-f', '-'], { input: tar })
    .toString()
    .trim()
    .split('\n')
    .map((l) => {
      const f = l.split(/\s+/);
      return [f[0], f[1], f.slice(5).join(' ')].join(' ');
    });
}

describe.each(actors())('ctr cp as $kind', (actor) => {
  let env: CtrEnv;
  let host: string;
  beforeAll(async () => {
    env = await CtrEnv.withImages(actor, images.base);
  });
  afterAll(async () => {
    await env?.cleanup();
  });
  afterEach(() => env.removeContainers());

  /** A fresh directory of the actor's for one test, with `src/`: a.txt (0640), sub/b.txt, link -> a.txt. */
  const workspace = () => {
    host = join(env.dir, `work-${randomBytes(4).toString('hex')}`);
    mkdirSync(join(host, 'src/sub'), { recursive: true });
    writeFileSync(join(host, 'src/a.txt'), 'A\n');
    chmodSync(join(host, 'src/a.txt'), 0o640);
    writeFileSync(join(host, 'src/sub/b.txt'), 'B\n');
    symlinkSync('a.txt', join(host, 'src/link'));
    execFileSync('chown', ['-R', '-h', `${actor.uid}:${actor.gid}`, host]);
    return host;
  };
  const asActorDir = (dir: string) => {
    mkdirSync(dir, { recursive: true });
    chownSync(dir, actor.uid, actor.gid);
    return dir;
  };
  const fullId = async (name: string) => (await env.ctr(['ps', '-aq', '--no-trunc', '--filter', `name=^${name}$`])).stdout.trim();

  const STAT = 'for f in $(find /in /keep | sort); do stat -c "%n %u:%g %a %F" "$f"; done; cat /in/a.txt; readlink /in/link';

  it('copies into a stopped container: files belong to its root, -a keeps their owners, and the container sees them when started', async () => {
    workspace();
    if (actor.kind === 'root') {
      writeFileSync(join(host, 'src/owned'), 'O\n');
      chownSync(join(host, 'src/owned'), 1234, 2345);
    }
    const created = await env.ctr(['create', '--name', 'stopped', images.base, 'sh', '-c', STAT]);
    expect(created.code, created.stderr).toBe(0);
    const cp = await env.ctr(['cp', join(host, 'src'), 'stopped:/in']);
    expect(cp.code, cp.stderr).toBe(0);
    const cpa = await env.ctr(['cp', '-a', join(host, 'src'), 'stopped:/keep']);
    expect(cpa.code, cpa.stderr).toBe(0);

    const run = await env.ctr(['start', '-a', 'stopped']);
    expect(run.code, run.stderr).toBe(0);
    const own = actor.kind === 'root' ? '0:0' : `${actor.uid}:${actor.gid}`;
    expect(run.stdout.trim().split('\n')).toEqual([
      '/in 0:0 755 directory',
      '/in/a.txt 0:0 640 regular file',
      '/in/link 0:0 777 symbolic link',
      ...(actor.kind === 'root' ? ['/in/owned 0:0 644 regular file'] : []),
      '/in/sub 0:0 755 directory',
      '/in/sub/b.txt 0:0 644 regular file',
      `/keep ${own} 755 directory`,
      `/keep/a.txt ${own} 640 regular file`,
      `/keep/link ${own} 777 symbolic link`,
      ...(actor.kind === 'root' ? ['/keep/owned 1234:2345 644 regular file'] : []),
      `/keep/sub ${own} 755 directory`,
      `/keep/sub/b.txt ${own} 644 regular file`,
      'A',
      'a.txt',
    ]);
    // Written in the container's own layer, owned as its root is on this machine.
    const upper = join(env.root, 'containers', await fullId('stopped'), 'upper');
    expect(lstatSync(join(upper, 'in/a.txt')).uid).toBe(hostId(actor, 0));
    expect(readFileSync(join(upper, 'in/sub/b.txt'), 'utf8')).toBe('B\n');
  });

  it("copies out by docker's destination rules, as files of the user, symlinks as links unless -L", async () => {
    workspace();
    const run = await env.ctr(['run', '--name', 'made', images.base, 'sh', '-c', 'mkdir -p /in/sub; echo A > /in/a.txt; echo B > /in/sub/b.txt; ln -s a.txt /in/link; chown -R 1000:1000 /in']);
    expect(run.code, run.stderr).toBe(0);
    const out = asActorDir(join(host, 'out'));
    asActorDir(join(out, 'existing'));
    asActorDir(join(out, 'existing2'));
    writeFileSync(join(out, 'afile'), 'x');
    chownSync(join(out, 'afile'), actor.uid, actor.gid);

    const cases: [string, string][] = [
      ['made:/in/a.txt', join(out, 'new.txt')],
      ['made:/in', join(out, 'existing')],
      ['made:/in', join(out, 'newdir')],
      ['made:/in/.', join(out, 'existing2')],
      ['made:/in/a.txt', join(out, 'existing') + '/'],
      ['made:/in/a.txt', join(out, 'afile')],
    ];
    for (const [src, dst] of cases) {
      const cp = await env.ctr(['cp', src, dst]);
      expect(cp.code, `${src} ${dst}: ${cp.stderr}`).toBe(0);
    }
    const tree = (dir: string): string[] =>
      readdirSync(dir, { recursive: true, encoding: 'utf8' })
        .sort()
        .map((p) => {
          const st = lstatSync(join(dir, p));
          return `${p}${st.isDirectory() ? '/' : st.isSymbolicLink() ? ` -> ${readlinkSync(join(dir, p))}` : ` ${readFileSync(join(dir, p), 'utf8').trim()}`}`;
        });
    expect(tree(out)).toEqual([
      'afile A',
      'existing/',
      'existing/a.txt A',
      'existing/in/',
      'existing/in/a.txt A',
      'existing/in/link -> a.txt',
      'existing/in/sub/',
      'existing/in/sub/b.txt B',
      'existing2/',
      'existing2/a.txt A',
      'existing2/link -> a.txt',
      'existing2/sub/',
      'existing2/sub/b.txt B',
      'new.txt A',
      'newdir/',
      'newdir/a.txt A',
      'newdir/link -> a.txt',
      'newdir/sub/',
      'newdir/sub/b.txt B',
    ]);
    // Files copied out are the user's, whoever owned them in the container.
    for (const p of ['new.txt', 'newdir/sub/b.txt', 'newdir/link']) expect(lstatSync(join(out, p)).uid, p).toBe(actor.uid);

    const followed = await env.ctr(['cp', '-L', 'made:/in/link', join(out, 'followed')]);
    expect(followed.code, followed.stderr).toBe(0);
    expect(lstatSync(join(out, 'followed')).isFile()).toBe(true);
    expect(readFileSync(join(out, 'followed'), 'utf8')).toBe('A\n');

    const missingDir = await env.ctr(['cp', 'made:/in/a.txt', join(out, 'nowhere') + '/']);
    expect(missingDir.code).toBe(125);
    expect(missingDir.stderr).toMatch(/^Error: .*nowhere.* does not exist.*\n$/);
    const dirOnFile = await env.ctr(['cp', 'made:/in', join(out, 'afile')]);
    expect(dirOnFile.code).toBe(125);
    expect(dirOnFile.stderr).toMatch(/^Error: cannot copy a directory to .*afile, which is a file\n$/);
    const missing = await env.ctr(['cp', 'made:/nope', join(out, 'x')]);
    expect([missing.code, missing.stderr]).toEqual([125, 'Error: Could not find the file /nope in container made\n']);
    const nobody = await env.ctr(['cp', 'ghost:/etc', join(out, 'x')]);
    expect([nobody.code, nobody.stderr]).toEqual([125, 'Error: no such container: ghost\n']);
    const twoLocal = await env.ctr(['cp', join(out, 'afile'), join(out, 'b')]);
    expect(twoLocal.code).toBe(125);
  });

  it('carries file capabilities and user.* xattrs both ways, as far as the copying user may set them', async () => {
    workspace();
    const cap = join(host, 'src/cap');
    writeFileSync(cap, '#!/bin/sh\n');
    chownSync(cap, actor.uid, actor.gid);
    native().lsetxattr(cap, 'security.capability', CAP_NET_RAW);
    native().lsetxattr(cap, 'user.note', Buffer.from('on the file'));
    native().lsetxattr(join(host, 'src/sub'), 'user.note', Buffer.from('on the dir'));
    expect((await env.ctr(['create', '--name', 'xa', images.base, 'true'])).code).toBe(0);
    const into = await env.ctr(['cp', join(host, 'src'), 'xa:/x']);
    expect(into.code, into.stderr).toBe(0);
    const stream = makeLayer([{ type: 'file', path: 'streamed', content: 'x', xattrs: { 'user.note': 'from a tar', 'user.overlay.opaque': 'y' } }]);
    const streamed = await env.ctr(['cp', '-', 'xa:/x'], { input: stream });
    expect(streamed.code, streamed.stderr).toBe(0);

    const upper = join(env.root, 'containers', await fullId('xa'), 'upper');
    const xattr = (path: string, name: string) => native().lgetxattr(path, name)?.toString();
    expect(xattr(join(upper, 'x/cap'), 'user.note')).toBe('on the file');
    expect(xattr(join(upper, 'x/sub'), 'user.note')).toBe('on the dir');
    expect(xattr(join(upper, 'x/streamed'), 'user.note')).toBe('from a tar');
    expect(native().llistxattr(join(upper, 'x/streamed')).filter((n) => n.includes('overlay'))).toEqual([]);
    const inside = native().lgetxattr(join(upper, 'x/cap'), 'security.capability')!;
    if (actor.kind === 'root') {
      expect(inside).toEqual(CAP_NET_RAW);
    } else {
      // Set inside the user namespace: the kernel stores it as a v3 capability of that namespace's root.
      expect(inside.readUInt32LE(0) >>> 24).toBe(3);
      expect(inside.subarray(4, 20)).toEqual(CAP_NET_RAW.subarray(4, 20));
      expect(inside.readUInt32LE(20)).toBe(actor.uid);
    }

    const out = join(asActorDir(join(host, 'out')), 'x');
    const back = await env.ctr(['cp', 'xa:/x', out]);
    expect(back.code, back.stderr).toBe(0);
    expect(xattr(join(out, 'cap'), 'user.note')).toBe('on the file');
    expect(xattr(join(out, 'sub'), 'user.note')).toBe('on the dir');
    expect(xattr(join(out, 'streamed'), 'user.note')).toBe('from a tar');
    // Only real root may give a file of this machine a capability; a rootless copy leaves it out.
    expect(native().lgetxattr(join(out, 'cap'), 'security.capability') ?? undefined).toEqual(actor.kind === 'root' ? CAP_NET_RAW : undefined);
  });

  it('copies in and out of a running container, tar streams included, with -a keeping the ids of the tar', async () => {
    workspace();
    const script = 'while [ ! -e /tmp/go ]; do sleep 0.1; done; for f in /in /in/a.txt /keep/a.txt /s/x/y /sa/x/y; do stat -c "%n %u:%g %a" $f; done; echo done';
    const run = await env.ctr(['run', '-d', '--name', 'live', images.base, 'sh', '-c', `mkdir /s /sa; echo up; ${script}`]);
    expect(run.code, run.stderr).toBe(0);
    await env.waitForLog('live', 'up');

    expect((await env.ctr(['cp', join(host, 'src'), 'live:/in'])).code).toBe(0);
    expect((await env.ctr(['cp', '-a', join(host, 'src'), 'live:/keep'])).code).toBe(0);
    const stream = makeLayer([
      { type: 'dir', path: 'x', mode: 0o750, uid: 1234, gid: 2345 },
      { type: 'file', path: 'x/y', content: 'from a tar\n', mode: 0o604, uid: 1234, gid: 2345 },
    ]);
    const plain = await env.ctr(['cp', '-', 'live:/s'], { input: stream });
    expect(plain.code, plain.stderr).toBe(0);
    const kept = await env.ctr(['cp', '-a', '-', 'live:/sa'], { input: stream });
    expect(kept.code, kept.stderr).toBe(0);

    const argv = asActor(actor, [...inject('ctrCommand'), 'cp', 'live:/in', '-']);
    const raw = spawnSync(argv[0]!, argv.slice(1), { env: env.env(), cwd: env.dir });
    expect(raw.status, raw.stderr.toString()).toBe(0);
    expect(listTar(raw.stdout)).toEqual(['drwxr-xr-x 0/0 in/', '-rw-r----- 0/0 in/a.txt', 'lrwxrwxrwx 0/0 in/link -> a.txt', 'drwxr-xr-x 0/0 in/sub/', '-rw-r--r-- 0/0 in/sub/b.txt']);

    const notDir = await env.ctr(['cp', '-', 'live:/in/a.txt'], { input: stream });
    expect([notDir.code, notDir.stderr]).toEqual([125, 'Error: destination "live:/in/a.txt" must be a directory\n']);
    const noDest = await env.ctr(['cp', '-', 'live:/nowhere'], { input: stream });
    expect([noDest.code, noDest.stderr]).toEqual([125, 'Error: Could not find the file /nowhere in container live\n']);

    writeFileSync(join(host, 'go'), '');
    chownSync(join(host, 'go'), actor.uid, actor.gid);
    expect((await env.ctr(['cp', join(host, 'go'), 'live:/tmp/go'])).code).toBe(0);
    const seen = await env.waitForLog('live', 'done');
    const keep = actor.kind === 'root' ? '0:0' : `${actor.uid}:${actor.gid}`;
    expect(seen.trim().split('\n')).toEqual(['up', '/in 0:0 755', '/in/a.txt 0:0 640', `/keep/a.txt ${keep} 640`, '/s/x/y 0:0 604', '/sa/x/y 1234:2345 604', 'done']);
  });

  it.each([
    ['a stopped container', false],
    ['a running container', true],
  ])("never follows a symlink of %s out of its root: /escape -> /etc is the container's /etc", async (_what, running) => {
    workspace();
    const name = `ctr-cp-escape-${randomBytes(6).toString('hex')}`;
    const setup = 'ln -s /etc /escape; ln -s ../../../../../../../etc /tmp/rel; mkdir /tmp/d; echo ready';
    const run = running
      ? await env.ctr(['run', '-d', '--name', 'esc', images.base, 'sh', '-c', `${setup}; exec sleep 60`])
      : await env.ctr(['run', '--name', 'esc', images.base, 'sh', '-c', setup]);
    expect(run.code, run.stderr).toBe(0);
    await env.waitForLog('esc', 'ready');
    writeFileSync(join(host, name), 'planted\n');
    chownSync(join(host, name), actor.uid, actor.gid);

    for (const dst of [`esc:/escape/${name}-abs`, `esc:/tmp/rel/${name}-rel`]) {
      const cp = await env.ctr(['cp', join(host, name), dst]);
      expect(cp.code, cp.stderr).toBe(0);
    }
    // A tar that plants a symlink to /etc and then writes through it.
    const hostile = makeLayer([
      { type: 'symlink', path: 'link', target: '/etc' },
      { type: 'file', path: `link/${name}-tar`, content: 'through the link\n' },
    ]);
    const stream = await env.ctr(['cp', '-', 'esc:/tmp/d'], { input: hostile });
    expect(stream.code, stream.stderr).toBe(0);
    for (const suffix of ['abs', 'rel', 'tar']) expect(existsSync(`/etc/${name}-${suffix}`), `/etc/${name}-${suffix} on the host`).toBe(false);

    const listing = await env.ctr(['cp', 'esc:/etc/.', join(asActorDir(join(host, 'etc')), '/')]);
    expect(listing.code, listing.stderr).toBe(0);
    expect(readdirSync(join(host, 'etc')).filter((n) => n.startsWith(name)).sort()).toEqual([`${name}-abs`, `${name}-rel`, `${name}-tar`]);
    // Reading through the links gives the container's files, not this machine's.
    const passwd = await env.ctr(['cp', 'esc:/escape/passwd', join(host, 'passwd')]);
    expect(passwd.code, passwd.stderr).toBe(0);
    expect(readFileSync(join(host, 'passwd'), 'utf8')).toBe(PASSWD);
    const rel = await env.ctr(['cp', 'esc:/tmp/rel/group', join(host, 'group')]);
    expect(rel.code, rel.stderr).toBe(0);
    expect(readFileSync(join(host, 'group'), 'utf8')).not.toBe(readFileSync('/etc/group', 'utf8'));

    const climbing = makeLayer([{ type: 'file', path: `../../../../tmp/${name}-up`, content: 'x' }]);
    const up = await env.ctr(['cp', '-', 'esc:/tmp/d'], { input: climbing });
    expect(up.code).toBe(125);
    expect(up.stderr).toMatch(/points outside the destination/);
    expect(existsSync(`/tmp/${name}-up`)).toBe(false);
  });

  it('on this machine, a symlink given as the destination is followed, a copied link replaces the old link, never what it points to', async () => {
    workspace();
    const run = await env.ctr(['run', '--name', 'src', images.base, 'sh', '-c', 'mkdir -p /x; ln -s /etc /x/link; echo hi > /x/file']);
    expect(run.code, run.stderr).toBe(0);
    const out = asActorDir(join(host, 'out'));
    const cp = await env.ctr(['cp', 'src:/x', join(out, 'x')]);
    expect(cp.code, cp.stderr).toBe(0);
    expect(readlinkSync(join(out, 'x/link'))).toBe('/etc');
    expect(readFileSync(join(out, 'x/file'), 'utf8')).toBe('hi\n');
    // Copying again over the same tree replaces the link itself, never what it points to.
    const again = await env.ctr(['cp', 'src:/x/.', join(out, 'x')]);
    expect(again.code, again.stderr).toBe(0);
    expect(readlinkSync(join(out, 'x/link'))).toBe('/etc');
    symlinkSync('x', join(out, 'via'));
    lchownSync(join(out, 'via'), actor.uid, actor.gid);
    const viaLink = await env.ctr(['cp', 'src:/x/file', join(out, 'via')]);
    expect(viaLink.code, viaLink.stderr).toBe(0);
    expect(lstatSync(join(out, 'via')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(out, 'x/file'), 'utf8')).toBe('hi\n');
  });
});
