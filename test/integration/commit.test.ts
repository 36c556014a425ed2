import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { actors, CtrEnv } from '../helpers/ctr.js';
import { useRunImages } from '../fixtures/run-registry.js';

const images = useRunImages();

/** Added, changed, deleted, chowned and replaced, with every kind of file that has owners and links. */
const CHANGES = [
  'set -e',
  'mkdir /added',
  'echo new > /added/file',
  'chown 1000:2000 /added/file',
  'chmod 0640 /added/file',
  'ln /added/file /added/hard',
  'ln -s file /added/link',
  'mkfifo /added/fifo',
  'echo extra >> /etc/passwd',
  'rm /usr/bin/not-executable',
  'chown 1000:50 /usr/bin/hello',
  'rm -rf /home/app',
  'mkdir /home/app',
  'echo fresh > /home/app/new',
].join('\n');

const EXPECTED_DIFF = [
  'A /added',
  'A /added/fifo',
  'A /added/file',
  'A /added/hard',
  'A /added/link',
  'C /etc',
  'C /etc/passwd',
  'C /home',
  'D /home/app',
  'A /home/app/new',
  'C /usr',
  'C /usr/bin',
  'C /usr/bin/hello',
  'D /usr/bin/not-executable',
];

/** What a container of the committed image sees, as `stat` prints it (owners as the container's ids). */
const PROBE = [
  'stat -c "%n %u:%g %a %F %h" /added/file /added/hard /added/fifo /usr/bin/hello /usr/bin/suid-tool /home/app /home/app/new',
  'readlink /added/link',
  '[ "$(stat -c %i /added/file)" = "$(stat -c %i /added/hard)" ] && echo same-inode',
  'ls -A /home/app',
  'ls /usr/bin/not-executable 2>/dev/null || echo not-executable-gone',
  'tail -n 1 /etc/passwd',
].join('; ');

const EXPECTED_PROBE = [
  '/added/file 1000:2000 640 regular file 2',
  '/added/hard 1000:2000 640 regular file 2',
  '/added/fifo 0:0 644 fifo 1',
  '/usr/bin/hello 1000:50 755 regular file 1',
  '/usr/bin/suid-tool 0:0 4755 regular file 1',
  '/home/app 0:0 755 directory 2',
  '/home/app/new 0:0 644 regular file 1',
  'file',
  'same-inode',
  'new',
  'not-executable-gone',
  'extra',
  '',
].join('\n');

describe.each(actors())('ctr commit as $kind', (actor) => {
  let env: CtrEnv;
  beforeAll(async () => {
    env = await CtrEnv.withImages(actor, images.base);
  });
  afterAll(async () => {
    await env?.cleanup();
  });
  afterEach(() => env.removeContainers());

  const layerDirs = () => (existsSync(join(env.root, 'layers')) ? readdirSync(join(env.root, 'layers')).filter((n) => /^[a-f0-9]{64}$/.test(n)).sort() : []);
  const imageIds = async () => (await env.ctr(['images', '-q', '--no-trunc'])).stdout.trim().split('\n').filter(Boolean).sort();
  const inspect = async (name: string) => {
    const r = await env.ctr(['inspect', name]);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as Record<string, any>[])[0]!;
  };

  it('a committed image holds exactly what the container added, changed, deleted and chowned, and diff lists it', async () => {
    const made = await env.ctr(['run', '--name', 'work', images.base, 'sh', '-c', CHANGES]);
    expect(made.code, made.stderr).toBe(0);

    const diff = await env.ctr(['diff', 'work']);
    expect(diff.code, diff.stderr).toBe(0);
    expect(diff.stdout.trim().split('\n')).toEqual(EXPECTED_DIFF);

    const committed = await env.ctr(['commit', 'work', 'test/committed:1']);
    expect(committed.code, committed.stderr).toBe(0);
    expect(committed.stdout).toMatch(/^sha256:[a-f0-9]{64}\n$/);

    const run = await env.ctr(['run', '--rm', 'test/committed:1', 'sh', '-c', PROBE]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(EXPECTED_PROBE);

    // The new layer in OCI form: whiteouts, the opaque marker, the container's ids, one hard link.
    const img = await inspect('test/committed:1');
    const layers = img.RootFS.Layers as string[];
    expect(layers).toHaveLength(3);
    // The stored layer, rebuilt byte for byte, through a file: stdout here is decoded as text.
    const tarFile = join(env.dir, 'layer.tar');
    const tar = await env.exec(['sh', '-c', '"$@" > layer.tar', 'sh', ...inject('ctrCommand'), '__layer', 'tar', join(env.root, 'layers', layers[2]!.slice(7))]);
    expect(tar.code, tar.stderr).toBe(0);
    const listing = execFileSync('tar', ['-tvf', tarFile, '--numeric-owner']).toString();
    const members = listing.split('\n').filter(Boolean).map((l) => {
      const f = l.split(/\s+/);
      return `${f[0]} ${f[1]} ${f.slice(5).join(' ')}`;
    });
    expect(members).toEqual([
      'drwxr-xr-x 0/0 added/',
      'prw-r--r-- 0/0 added/fifo',
      '-rw-r----- 1000/2000 added/file',
      'hrw-r----- 1000/2000 added/hard link to added/file',
      'lrwxrwxrwx 0/0 added/link -> file',
      'drwxr-xr-x 0/0 etc/',
      '-rw-r--r-- 0/0 etc/passwd',
      'drwxr-xr-x 0/0 home/',
      'drwxr-xr-x 0/0 home/app/',
      '---------- 0/0 home/app/.wh..wh..opq',
      '-rw-r--r-- 0/0 home/app/new',
      'drwxr-xr-x 0/0 usr/',
      'drwxr-xr-x 0/0 usr/bin/',
      '-rwxr-xr-x 1000/50 usr/bin/hello',
      '-rw------- 0/0 usr/bin/.wh.not-executable',
    ]);
    const sha = createHash('sha256').update(readFileSync(tarFile)).digest('hex');
    expect(`sha256:${sha}`).toBe(layers[2]);
  });

  it('--change, -m and -a shape the new config and history; the image runs with them', async () => {
    const made = await env.ctr(['run', '--name', 'cfg', images.base, 'sh', '-c', 'mkdir /app && echo "served $MODE" > /app/out && chown -R 1000 /app']);
    expect(made.code, made.stderr).toBe(0);
    const changes = [
      'CMD ["sh", "-c", "cat out; id -u; pwd"]',
      'ENV MODE=committed',
      'EXPOSE 8080/tcp',
      'LABEL stage=test',
      'WORKDIR /app',
      'USER 1000',
      'STOPSIGNAL SIGINT',
      'VOLUME /cache',
    ];
    const committed = await env.ctr(['commit', '-m', 'add the app', '-a', 'Jane <jane@example.org>', ...changes.flatMap((c) => ['--change', c]), 'cfg', 'test/app:2']);
    expect(committed.code, committed.stderr).toBe(0);
    const img = await inspect('test/app:2');
    expect(img.Id).toBe(committed.stdout.trim());
    expect(img.Config).toMatchObject({
      Cmd: ['sh', '-c', 'cat out; id -u; pwd'],
      ExposedPorts: { '8080/tcp': {} },
      Labels: { stage: 'test' },
      WorkingDir: '/app',
      User: '1000',
      StopSignal: 'SIGINT',
      Volumes: { '/cache': {} },
    });
    expect(img.Config.Env).toContain('MODE=committed');
    expect(img.Author).toBe('Jane <jane@example.org>');
    expect(img.Comment).toBe('add the app');
    const last = (img.History as Record<string, string>[]).at(-1)!;
    expect(last).toMatchObject({ created_by: 'sh -c mkdir /app && echo "served $MODE" > /app/out && chown -R 1000 /app', comment: 'add the app', author: 'Jane <jane@example.org>' });
    expect(img.History).toHaveLength(3);

    const run = await env.ctr(['run', '--rm', 'test/app:2']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe('served \n1000\n/app\n');
  });

  it("keeps the container's -e, -w, -u, --entrypoint and arguments, labels and -v volumes, as docker does; --change applies on top", async () => {
    for (const ref of [images.conf, images.entry]) expect((await env.ctr(['pull', '-q', ref])).code).toBe(0);
    const script = 'echo "$GREETING $MODE $FOO $(pwd) $(id -u)"';
    const made = await env.ctr(['run', '--name', 'keep', '-e', 'MODE=run', '-e', 'FOO=1', '-w', '/tmp', '-u', '1000', '--label', 'k=v', '-v', '/cache', '--entrypoint', 'sh', images.conf, '-c', script]);
    expect([made.code, made.stdout, made.stderr]).toEqual([0, 'hi run 1 /tmp 1000\n', '']);
    expect((await env.ctr(['commit', 'keep', 'test/keep:1'])).code).toBe(0);
    const img = await inspect('test/keep:1');
    expect(img.Config).toMatchObject({
      Env: ['MODE=run', 'FOO=1', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'GREETING=hi'],
      WorkingDir: '/tmp',
      User: '1000',
      Entrypoint: ['sh'],
      Cmd: ['-c', script],
      Labels: { k: 'v' },
      Volumes: { '/cache': {} },
    });
    expect((img.History as Record<string, string>[]).at(-1)!.created_by).toBe(`-c ${script}`);
    const run = await env.ctr(['run', '--rm', 'test/keep:1']);
    expect([run.code, run.stdout, run.stderr]).toEqual([0, 'hi run 1 /tmp 1000\n', '']);

    expect((await env.ctr(['commit', '-c', 'ENV FOO=changed', '-c', 'WORKDIR /', 'keep', 'test/keep:2'])).code).toBe(0);
    const changed = await env.ctr(['run', '--rm', 'test/keep:2']);
    expect(changed.stdout).toBe('hi run changed / 1000\n');

    // The image's ENTRYPOINT stays, the arguments become CMD.
    expect((await env.ctr(['run', '--name', 'ent', images.entry, 'other'])).stdout).toBe('entry other\n');
    expect((await env.ctr(['commit', 'ent', 'test/ent:1'])).code).toBe(0);
    expect((await inspect('test/ent:1')).Config).toMatchObject({ Entrypoint: ['echo', 'entry'], Cmd: ['other'] });
    expect((await env.ctr(['run', '--rm', 'test/ent:1'])).stdout).toBe('entry other\n');
  });

  it('commits an unchanged container as one empty layer, quickly, and without a name as a dangling image', async () => {
    const created = await env.ctr(['create', '--name', 'idle', images.base, 'true']);
    expect(created.code, created.stderr).toBe(0);
    const start = Date.now();
    const committed = await env.ctr(['commit', '-q', 'idle']);
    const took = Date.now() - start;
    expect(committed.code, committed.stderr).toBe(0);
    const img = await inspect(committed.stdout.trim());
    expect(img.RepoTags).toEqual([]);
    expect((img.RootFS.Layers as string[]).at(-1)).toBe(`sha256:${createHash('sha256').update(Buffer.alloc(1024)).digest('hex')}`);
    const listed = await env.ctr(['images']);
    expect(listed.stdout).toMatch(new RegExp(`<none>\\s+<none>\\s+${img.Id.slice(7, 19)}`));
    console.log(`commit of an unchanged container (${actor.kind}): ${took} ms`);
  });

  it('--format docker records docker media types', async () => {
    expect((await env.ctr(['create', '--name', 'fmt', images.base, 'true'])).code).toBe(0);
    const committed = await env.ctr(['commit', '--format', 'docker', 'fmt', 'test/fmt:docker']);
    expect(committed.code, committed.stderr).toBe(0);
    const img = await inspect('test/fmt:docker');
    expect(img.ManifestType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect((img.Layers as { MediaType: string }[]).map((l) => l.MediaType)).toEqual(Array(3).fill('application/vnd.docker.image.rootfs.diff.tar'));
  });

  it('commits a running container (paused meanwhile where the runtime can) and leaves it running', async () => {
    const child = env.spawnCtr(['run', '--name', 'busy', images.base, 'sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i > /count.new && mv /count.new /count; sleep 0.05; done']);
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    try {
      let written = false;
      for (let i = 0; i < 100 && !written; i++) {
        await new Promise((r) => setTimeout(r, 100));
        written = /^A \/count$/m.test((await env.ctr(['diff', 'busy'])).stdout);
      }
      expect(written).toBe(true);
      const committed = await env.ctr(['commit', 'busy', 'test/busy:1']);
      expect(committed.code, committed.stderr).toBe(0);
      expect(committed.stderr).toBe('');
      const seen = await env.ctr(['run', '--rm', 'test/busy:1', 'cat', '/count']);
      expect(seen.stdout).toMatch(/^\d+\n$/);
      const ps = await env.ctr(['ps', '--format', '{{.Names}} {{.Status}}']);
      expect(ps.stdout).toMatch(/^busy Up/m);
    } finally {
      await env.ctr(['rm', '-f', 'busy']);
      await exited;
    }
  });

  it('refuses an unknown container, a bad --change and an invalid name in one sentence, storing nothing', async () => {
    expect((await env.ctr(['create', '--name', 'victim', images.base, 'true'])).code).toBe(0);
    const made = await env.ctr(['run', '--name', 'dirty', images.base, 'sh', '-c', 'echo x > /x']);
    expect(made.code, made.stderr).toBe(0);
    const beforeImages = await imageIds();
    const beforeLayers = layerDirs();
    const cases: [string[], RegExp][] = [
      [['commit', 'no-such-container'], /^Error: no such container: no-such-container\n$/],
      [['commit', '-c', 'RUN rm -rf /', 'dirty', 'x:1'], /^Error: invalid --change "RUN rm -rf \/": RUN is not an instruction.*\n$/],
      [['commit', '-c', 'EXPOSE 99999', 'dirty'], /^Error: invalid --change "EXPOSE 99999".*\n$/],
      [['commit', 'dirty', 'Not/Valid:Name'], /^Error: invalid reference "Not\/Valid:Name".*\n$/],
      [['commit', 'dirty', 'x@sha256:' + 'a'.repeat(64)], /^Error: invalid reference .*digest.*\n$/],
      [['commit', '--format', 'v1', 'dirty'], /^Error: --format is oci or docker.*\n$/],
    ];
    for (const [args, message] of cases) {
      const r = await env.ctr(args);
      expect([r.code, r.stdout], args.join(' ')).toEqual([125, '']);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
    expect(await imageIds()).toEqual(beforeImages);
    expect(layerDirs()).toEqual(beforeLayers);
  });
});
