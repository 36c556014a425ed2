import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { actors, CtrEnv } from '../helpers/ctr.js';
import { drivePty } from '../helpers/pty.js';
import { makeLayer } from '../fixtures/layers.js';
import { busyboxLayer } from '../fixtures/run-images.js';
import { useRunImages } from '../fixtures/run-registry.js';

const images = useRunImages();
let server: Server;
let baseUrl: string;
/** Files the http server hands out, by path. */
const served = new Map<string, Buffer>();

beforeAll(async () => {
  server = createServer((req, res) => {
    const body = served.get(req.url ?? '');
    if (!body) {
      res.writeHead(404).end('not here');
      return;
    }
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

const CHANGES = [
  'set -e',
  'mkdir /added',
  'echo new > /added/file',
  'chown 1000:2000 /added/file',
  'chmod 0640 /added/file',
  'ln /added/file /added/hard',
  'ln -s file /added/link',
  'rm /usr/bin/not-executable',
  'chown 1000:50 /usr/bin/hello',
].join('\n');

const PROBE = [
  'stat -c "%n %u:%g %a %F %h" /added/file /added/hard /usr/bin/hello /usr/bin/suid-tool /home/app /home/app/owned',
  'readlink /added/link',
  '[ "$(stat -c %i /added/file)" = "$(stat -c %i /added/hard)" ] && echo same-inode',
  'ls /usr/bin/not-executable 2>/dev/null || echo not-executable-gone',
].join('; ');

const EXPECTED_PROBE = [
  '/added/file 1000:2000 640 regular file 2',
  '/added/hard 1000:2000 640 regular file 2',
  '/usr/bin/hello 1000:50 755 regular file 1',
  '/usr/bin/suid-tool 0:0 4755 regular file 1',
  '/home/app 1000:1000 750 directory 2',
  '/home/app/owned 1000:1000 600 regular file 1',
  'file',
  'same-inode',
  'not-executable-gone',
  '',
].join('\n');

/** `tar -tv --numeric-owner` without the times: mode, owner, size, name (and link target). */
function listing(file: string): string[] {
  return execFileSync('tar', ['-tvf', file, '--numeric-owner'])
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const f = l.split(/\s+/);
      return [f[0], f[1], f[2], ...f.slice(5)].join(' ');
    });
}

describe.each(actors())('ctr export and import as $kind', (actor) => {
  let env: CtrEnv;
  let exported: string;
  let plainDiffId: string;
  const ctrArgv = () => inject('ctrCommand');
  /** Runs a shell line as the actor with "$@" = ctr's own argv (for pipes and redirections). */
  const shell = (line: string, input?: string | Buffer) => env.exec(['sh', '-c', line, 'sh', ...ctrArgv()], { input });
  const layerDirs = () => (existsSync(join(env.root, 'layers')) ? readdirSync(join(env.root, 'layers')).filter((n) => /^[a-f0-9]{64}$/.test(n)).sort() : []);
  const imageIds = async () => (await env.ctr(['images', '-q', '--no-trunc'])).stdout.trim().split('\n').filter(Boolean).sort();
  const inspect = async (name: string) => {
    const r = await env.ctr(['inspect', name]);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as Record<string, any>[])[0]!;
  };

  beforeAll(async () => {
    env = await CtrEnv.withImages(actor, images.base);
    const made = await env.ctr(['run', '--name', 'src', images.base, 'sh', '-c', CHANGES]);
    expect(made.code, made.stderr).toBe(0);
    exported = join(env.dir, 'fs.tar');
  });
  afterAll(async () => {
    await env?.cleanup();
  });

  it('export writes the whole file system with the container’s owners, modes and links, to a file or a pipe', async () => {
    const r = await env.ctr(['export', '-o', exported, 'src']);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, '', '']);
    const lines = listing(exported);
    expect(lines).toEqual(
      expect.arrayContaining([
        '-rw-r----- 1000/2000 4 added/file',
        'hrw-r----- 1000/2000 0 added/hard link to added/file',
        'lrwxrwxrwx 0/0 0 added/link -> file',
        '-rwxr-xr-x 1000/50 26 usr/bin/hello',
        '-rwsr-xr-x 0/0 20 usr/bin/suid-tool',
        'drwxr-x--- 1000/1000 0 home/app/',
        '-rw------- 1000/1000 5 home/app/owned',
        'drwxrwxrwt 0/0 0 tmp/',
      ]),
    );
    expect(lines.some((l) => l.includes('not-executable'))).toBe(false);
    expect(lines.some((l) => l.endsWith(' bin/busybox'))).toBe(true);

    const piped = await shell('"$@" export src | cat > piped.tar');
    expect(piped.code, piped.stderr).toBe(0);
    expect(listing(join(env.dir, 'piped.tar'))).toEqual(lines);
  });

  it('import makes a one-layer image of an export that runs with the same files; exporting it again gives the same tree', async () => {
    const r = await env.ctr(['import', '-c', 'CMD ["sh", "-c", "echo imported"]', '-c', 'ENV MODE=imported', '-m', 'round trip', exported, 'test/imported:1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^sha256:[a-f0-9]{64}\n$/);
    const img = await inspect('test/imported:1');
    expect(img.Id).toBe(r.stdout.trim());
    expect(img.RootFS.Layers).toHaveLength(1);
    plainDiffId = img.RootFS.Layers[0];
    expect(img).toMatchObject({ Comment: 'round trip', Os: 'linux', Config: { Cmd: ['sh', '-c', 'echo imported'], Env: ['MODE=imported'] } });
    expect((await env.ctr(['run', '--rm', 'test/imported:1'])).stdout).toBe('imported\n');

    const probe = await env.ctr(['run', '--rm', 'test/imported:1', 'sh', '-c', PROBE]);
    expect(probe.code, probe.stderr).toBe(0);
    expect(probe.stdout).toBe(EXPECTED_PROBE);

    expect((await env.ctr(['create', '--name', 'again', 'test/imported:1'])).code).toBe(0);
    const again = join(env.dir, 'again.tar');
    expect((await env.ctr(['export', '-o', again, 'again'])).code).toBe(0);
    expect(listing(again)).toEqual(listing(exported));
  });

  it('import reads gzip from standard input, zstd from a file and a tar from an http URL, with --platform', async () => {
    const gz = await shell(`gzip -c ${exported} | "$@" import - test/gz:1`);
    expect(gz.code, gz.stderr).toBe(0);
    execFileSync('zstd', ['-q', '-f', exported, '-o', join(env.dir, 'fs.tar.zst')]);
    const zst = await env.ctr(['import', '--platform', 'linux/arm64/v8', join(env.dir, 'fs.tar.zst'), 'test/zst:1']);
    expect(zst.code, zst.stderr).toBe(0);
    served.set(`/${actor.kind}/fs.tar`, readFileSync(exported));
    const url = await env.ctr(['import', `${baseUrl}/${actor.kind}/fs.tar`, 'test/url:1']);
    expect(url.code, url.stderr).toBe(0);
    for (const name of ['test/gz:1', 'test/zst:1', 'test/url:1']) expect((await inspect(name)).RootFS.Layers).toEqual([plainDiffId]);
    expect(await inspect('test/zst:1')).toMatchObject({ Architecture: 'arm64', Variant: 'v8', Os: 'linux' });
    expect((await inspect('test/url:1')).Comment).toBe(`Imported from ${baseUrl}/${actor.kind}/fs.tar`);
  });

  it('imports a tar written by another tool with its owners, links and special files', async () => {
    const layer = makeLayer([
      { type: 'dir', path: 'srv', mode: 0o755 },
      { type: 'file', path: 'srv/owned', content: 'x\n', mode: 0o2750, uid: 4242, gid: 4343 },
      { type: 'hardlink', path: 'srv/again', target: 'srv/owned' },
      { type: 'symlink', path: 'srv/sh', target: '/bin/busybox' },
      { type: 'fifo', path: 'srv/pipe', mode: 0o600, uid: 7, gid: 8 },
    ]);
    const input = Buffer.concat([busyboxLayer().subarray(0, -1024), layer]);
    const r = await env.ctr(['import', '-', 'test/other:1'], { input: gzipSync(input) });
    expect(r.code, r.stderr).toBe(0);
    const probe = await env.ctr(['run', '--rm', 'test/other:1', 'stat', '-c', '%n %u:%g %a %F %h', '/srv/owned', '/srv/again', '/srv/pipe']);
    expect(probe.code, probe.stderr).toBe(0);
    expect(probe.stdout).toBe('/srv/owned 4242:4343 2750 regular file 2\n/srv/again 4242:4343 2750 regular file 2\n/srv/pipe 7:8 600 fifo 1\n');
  });

  it.runIf(actor.kind === 'root')('podman imports ctr’s export and ctr imports podman’s, with the same tree', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctr-podman-'));
    const podman = (...args: string[]) => execFileSync('podman', ['--root', join(dir, 'root'), '--runroot', join(dir, 'run'), '--storage-driver', 'vfs', ...args], { maxBuffer: 64 << 20 });
    try {
      podman('import', '-q', exported, 'ctr-export:1');
      podman('create', '--name', 'pc', 'ctr-export:1', 'sh');
      const theirs = join(dir, 'podman.tar');
      podman('export', '-o', theirs, 'pc');
      expect(listing(theirs)).toEqual(listing(exported));
      const r = await env.ctr(['import', theirs, 'test/from-podman:1']);
      expect(r.code, r.stderr).toBe(0);
      const probe = await env.ctr(['run', '--rm', 'test/from-podman:1', 'sh', '-c', PROBE]);
      expect(probe.stdout).toBe(EXPECTED_PROBE);
    } finally {
      spawnSync('podman', ['--root', join(dir, 'root'), '--runroot', join(dir, 'run'), '--storage-driver', 'vfs', 'rm', '-a', '-f']);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a corrupt or truncated archive, a bad source, a bad name and a terminal in one sentence, storing nothing', async () => {
    const whole = readFileSync(exported);
    writeFileSync(join(env.dir, 'half.tar'), whole.subarray(0, whole.length >> 1));
    writeFileSync(join(env.dir, 'junk.tar'), Buffer.from('this is not an archive at all\n'.repeat(40)));
    writeFileSync(join(env.dir, 'cut.tar.gz'), gzipSync(whole).subarray(0, 4000));
    if (actor.kind === 'user') execFileSync('chown', [`${actor.uid}:${actor.gid}`, ...['half.tar', 'junk.tar', 'cut.tar.gz'].map((f) => join(env.dir, f))]);
    const beforeImages = await imageIds();
    const beforeLayers = layerDirs();
    const cases: [string[], RegExp][] = [
      [['import', 'half.tar', 'test/bad:1'], /^Error: cannot unpack layer in half\.tar: the layer tar is truncated .*\n$/],
      [['import', 'junk.tar'], /^Error: cannot unpack layer in junk\.tar: .*neither gzip, zstd nor a tar archive\n$/],
      [['import', 'cut.tar.gz'], /^Error: cannot unpack layer in cut\.tar\.gz: .*gzip data is corrupt or truncated.*\n$/],
      [['import', 'missing.tar'], /^Error: cannot import missing\.tar: no such file or directory.*\n$/],
      [['import', env.dir], /^Error: cannot import .*: it is a directory; .*\n$/],
      [['import', `${baseUrl}/nothing.tar`], /^Error: cannot download http:\/\/127\.0\.0\.1:\d+\/nothing\.tar: the server answered 404 Not Found\n$/],
      [['import', 'ftp://127.0.0.1/fs.tar'], /^Error: cannot import from ftp:\/\/127\.0\.0\.1\/fs\.tar: give a file.*\n$/],
      [['import', exported, 'Bad/Name'], /^Error: invalid reference "Bad\/Name": .*\n$/],
      [['import', '-c', 'FROM scratch', exported], /^Error: invalid --change "FROM scratch": .*\n$/],
      [['export', 'no-such-container'], /^Error: no such container: no-such-container\n$/],
    ];
    for (const [args, message] of cases) {
      const r = await env.ctr(args);
      expect([r.code, r.stdout], args.join(' ')).toEqual([125, '']);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
    expect(await imageIds()).toEqual(beforeImages);
    expect(layerDirs()).toEqual(beforeLayers);

    const tty = drivePty({ argv: [...(actor.kind === 'user' ? ['setpriv', `--reuid=${actor.uid}`, `--regid=${actor.gid}`, '--init-groups', '--'] : []), ...ctrArgv(), 'export', 'src'], env: env.env(), steps: [], timeout: 30 });
    expect(tty.code).toBe(125);
    expect(tty.output).toMatch(/^Error: refusing to write a tar archive to a terminal: use -o FILE or redirect the output/);
  });
});
