import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { native } from '../../src/native/index.js';
import { lookupRootfsPath, readRootfsFile } from '../../src/runtime/rootfs-file.js';
import { parseGroup, parsePasswd, resolveUser, resolveUserInLayers } from '../../src/runtime/user.js';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  '# a comment',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'app:x:1000:1000:App User,,,:/home/app:/bin/sh',
  '2000:x:3000:3000::/home/numeric-name:/bin/sh',
  'broken:x:notanumber:1::/:/bin/sh',
  '',
].join('\n');
const GROUP = ['root:x:0:', 'daemon:x:1:', 'staff:x:50:app,daemon', 'app:x:1000:', 'docker:x:999:app', 'wheel:x:10:root'].join('\n');
const files = { passwd: PASSWD, group: GROUP };

describe('passwd and group files', () => {
  it('parses entries and skips malformed lines', () => {
    expect(parsePasswd(PASSWD).map((u) => u.name)).toEqual(['root', 'daemon', 'app', '2000']);
    expect(parsePasswd(PASSWD)[2]).toEqual({ name: 'app', uid: 1000, gid: 1000, home: '/home/app', shell: '/bin/sh' });
    expect(parseGroup(GROUP)[2]).toEqual({ name: 'staff', gid: 50, members: ['app', 'daemon'] });
  });
});

describe('-u resolved with docker rules', () => {
  it.each([
    [undefined, { uid: 0, gid: 0, additionalGids: [10], home: '/root' }],
    ['app', { uid: 1000, gid: 1000, additionalGids: [50, 999], home: '/home/app' }],
    ['1000', { uid: 1000, gid: 1000, additionalGids: [50, 999], home: '/home/app' }],
    ['app:staff', { uid: 1000, gid: 50, additionalGids: [], home: '/home/app' }],
    ['app:999', { uid: 1000, gid: 999, additionalGids: [], home: '/home/app' }],
    ['4242', { uid: 4242, gid: 0, additionalGids: [], home: '/' }],
    ['4242:4343', { uid: 4242, gid: 4343, additionalGids: [], home: '/' }],
    ['1000:1000', { uid: 1000, gid: 1000, additionalGids: [], home: '/home/app' }],
    ['2000', { uid: 2000, gid: 0, additionalGids: [], home: '/' }],
    [':staff', { uid: 0, gid: 50, additionalGids: [], home: '/root' }],
  ])('-u %s', (spec, want) => {
    expect(resolveUser(spec, files)).toMatchObject(want);
  });

  it('refuses names the image does not define, and ids out of range', () => {
    expect(() => resolveUser('nobody', files)).toThrow('unable to find user nobody: no matching entries in passwd file');
    expect(() => resolveUser('app:nogroup', files)).toThrow('unable to find group nogroup: no matching entries in group file');
    expect(() => resolveUser('app', { passwd: null, group: null })).toThrow(/unable to find user app: the image has no readable \/etc\/passwd/);
    expect(() => resolveUser('4294967296', files)).toThrow(/out of range/);
    expect(resolveUser('1234:5678', { passwd: null, group: null })).toMatchObject({ uid: 1234, gid: 5678, home: '/' });
  });

  it('adds --group-add groups by name or number, once each', () => {
    const u = resolveUser('app', files, ['wheel', '4444', 'staff']);
    expect(u.additionalGids).toEqual([50, 999, 10, 4444]);
    expect(u.groupAddGids).toEqual([10, 4444, 50]);
    expect(() => resolveUser('app', files, ['nope'])).toThrow(/unable to find group nope given to --group-add/);
  });
});

describe('files read through image layers', () => {
  const root = mkdtempSync(join(tmpdir(), 'ctr-rootfs-file-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const layer = (name: string, files: Record<string, string | { link: string } | 'dir'>) => {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    for (const [path, what] of Object.entries(files)) {
      const full = join(dir, path);
      mkdirSync(join(full, '..'), { recursive: true });
      if (what === 'dir') mkdirSync(full, { recursive: true });
      else if (typeof what === 'string') writeFileSync(full, what);
      else symlinkSync(what.link, full);
    }
    return dir;
  };
  const bottom = layer('bottom', {
    'etc/passwd': 'root:x:0:0::/root:/bin/sh\n',
    'etc/group': 'old\n',
    'etc/alt/passwd': 'bottom alt\n',
    'data/keep': 'kept\n',
    'usr/lib/os-release': 'ID=test\n',
    'etc/os-release': { link: '../usr/lib/os-release' },
  });
  const top = layer('top', {
    'etc/group': 'new\n',
    'etc/alt': 'dir',
    'data/added': 'added\n',
    'etc/passwd-link': { link: '/etc/alt/../passwd' },
    'escape': { link: '../../../../../../etc/hostname' },
    'loop': { link: 'loop' },
  });
  native().lsetxattr(join(top, 'etc/alt'), 'user.overlay.opaque', Buffer.from('y'));
  const layers = [top, bottom];
  const read = (p: string) => readRootfsFile(layers, p)?.toString() ?? null;

  it('takes the topmost copy and merges directories', () => {
    expect(read('/etc/group')).toBe('new\n');
    expect(read('/etc/passwd')).toBe('root:x:0:0::/root:/bin/sh\n');
    expect(read('/data/keep')).toBe('kept\n');
    expect(read('/data/added')).toBe('added\n');
  });

  it('hides lower files below an opaque directory', () => {
    expect(read('/etc/alt/passwd')).toBeNull();
    expect(readRootfsFile([bottom], '/etc/alt/passwd')?.toString()).toBe('bottom alt\n');
  });

  it('follows symlinks inside the image, relative and absolute, never out of it', () => {
    expect(read('/etc/os-release')).toBe('ID=test\n');
    expect(read('/etc/passwd-link')).toBe('root:x:0:0::/root:/bin/sh\n');
    expect(read('/escape')).toBeNull();
    expect(read('/loop')).toBeNull();
    expect(read('/../../etc/group')).toBe('new\n');
    expect(lookupRootfsPath(layers, '/etc/passwd')).toBe(join(bottom, 'etc/passwd'));
  });

  it.runIf(process.getuid?.() === 0)('treats a 0/0 character device as a whiteout', () => {
    const wh = layer('whiteout', {});
    mkdirSync(join(wh, 'data'));
    native().mknod(join(wh, 'data/keep'), 0o20000 | 0o600, 0, 0);
    expect(readRootfsFile([wh, ...layers], '/data/keep')).toBeNull();
    expect(readRootfsFile([wh, ...layers], '/data/added')?.toString()).toBe('added\n');
  });

  it.runIf(process.getuid?.() !== 0)('returns null and says why when a file cannot be read', () => {
    const locked = layer('locked', { 'etc/passwd': 'secret\n' });
    chmodSync(join(locked, 'etc/passwd'), 0o000);
    const why: string[] = [];
    expect(readRootfsFile([locked], '/etc/passwd', { onUnreadable: (p, w) => why.push(`${p}: ${w}`) })).toBeNull();
    expect(why[0]).toMatch(/^\/etc\/passwd: .*EACCES/);
  });

  it('resolves -u against the layers', () => {
    const l = layer('users', { 'etc/passwd': 'app:x:1000:1000::/home/app:/bin/sh\n', 'etc/group': 'staff:x:50:app\n' });
    expect(resolveUserInLayers([l, ...layers], 'app')).toEqual({ uid: 1000, gid: 1000, additionalGids: [50], home: '/home/app', name: 'app' });
  });
});
