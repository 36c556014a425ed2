import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { actors, CtrEnv } from '../helpers/ctr.js';
import { printed } from '../helpers/process.js';
import { hostId } from '../fixtures/run-images.js';
import { useRunImages } from '../fixtures/run-registry.js';

const images = useRunImages();

describe.each(actors())('containers and volumes as $kind', (actor) => {
  let env: CtrEnv;
  beforeAll(async () => {
    env = await CtrEnv.withImages(actor, images.base, images.entry, images.vol);
  });
  afterAll(async () => {
    await env?.cleanup();
  });

  const lines = (s: string) => s.split('\n').filter(Boolean);
  const volumes = async () => lines((await env.ctr(['volume', 'ls', '-q'])).stdout).sort();
  // A test that left containers behind fails on its own; the next one starts clean.
  afterEach(() => env.removeContainers(['-v']));
  const ok = async (args: string[], input?: string) => {
    const r = await env.ctr(args, { input });
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r;
  };

  it('create makes a "Created" container that start -a runs; ps shows it "Exited (7)" with its filters', async () => {
    const created = await ok(['create', '--name', 'job', images.base, 'sh', '-c', 'echo to-out; echo to-err >&2; exit 7']);
    const id = created.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect((await ok(['ps'])).stdout).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES\n$/);
    const all = await ok(['ps', '-a']);
    expect(all.stdout).toMatch(new RegExp(`\\n${id.slice(0, 12)}\\s+${images.base.replace(/[.]/g, '\\.')}\\s+"sh -c echo to-out; …"\\s+.*\\s+Created\\s+job\\n$`));
    expect((await ok(['ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.Status}} {{.State}} {{.Command}}'])).stdout).toBe(
      `${id} Created created "sh -c echo to-out; echo to-err >&2; exit 7"\n`,
    );

    const started = await env.ctr(['start', '-a', 'job']);
    expect([started.code, started.stdout, started.stderr]).toEqual([7, 'to-out\n', 'to-err\n']);
    expect((await ok(['ps', '-a', '--format', '{{.Names}}|{{.Status}}|{{.State}}'])).stdout).toMatch(/^job\|Exited \(7\) (Less than a second|\d+ seconds?) ago\|exited\n$/);
    expect((await ok(['ps'])).stdout.split('\n')).toHaveLength(2);

    const other = (await ok(['create', images.entry])).stdout.trim();
    const q = async (...filters: string[]) => lines((await ok(['ps', '-aq', ...filters.flatMap((f) => ['--filter', f])])).stdout);
    expect(await q('status=exited')).toEqual([id.slice(0, 12)]);
    expect(await q('status=created')).toEqual([other.slice(0, 12)]);
    expect(await q('name=job')).toEqual([id.slice(0, 12)]);
    expect(await q(`ancestor=${images.entry}`)).toEqual([other.slice(0, 12)]);
    expect(await q(`id=${id.slice(0, 8)}`)).toEqual([id.slice(0, 12)]);
    expect(await q('status=exited', 'ancestor=nothing-like-this')).toEqual([]);
    expect((await ok(['ps', '-a', '-q', '--no-trunc'])).stdout.split('\n').filter(Boolean).sort()).toEqual([id, other].sort());
  });

  it('logs keeps stdout and stderr apart, with --tail and -t, and gains the output of each start', async () => {
    await ok(['create', '--name', 'talker', images.base, 'sh', '-c', 'echo one; echo two; echo oops >&2']);
    expect((await env.ctr(['start', '-a', 'talker'])).code).toBe(0);
    const logs = await ok(['logs', 'talker']);
    expect([logs.stdout, logs.stderr]).toEqual(['one\ntwo\n', 'oops\n']);
    // The last line of the whole log, from whichever stream printed it last.
    const tail = await ok(['logs', '--tail', '1', 'talker']);
    expect(tail.stdout + tail.stderr).toMatch(/^(two|oops)\n$/);
    const stamped = await ok(['logs', '-t', 'talker']);
    expect(stamped.stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z one\n\S+ two\n$/);
    expect(stamped.stderr).toMatch(/^\S+Z oops\n$/);
    expect((await env.ctr(['start', '-a', 'talker'])).code).toBe(0);
    expect((await ok(['logs', 'talker'])).stdout).toBe('one\ntwo\none\ntwo\n');
    expect((await ok(['logs', '--tail', '2', 'talker'])).stdout).toMatch(/two\n$/);
    const run = await ok(['run', '--name', 'ran', images.base, 'sh', '-c', 'echo from-run']);
    expect(run.stdout).toBe('from-run\n');
    expect((await ok(['logs', 'ran'])).stdout).toBe('from-run\n');
    const missing = await env.ctr(['logs', 'no-such-container']);
    expect(missing.code).toBe(125);
    expect(missing.stderr).toMatch(/no-such-container/);
  });

  it('logs keeps what a container with a terminal (-t) printed', async () => {
    const tty = await env.ctr(['run', '-t', '--name', 'tty', images.base, 'sh', '-c', 'echo on-a-tty']);
    expect([tty.code, tty.stdout]).toEqual([0, 'on-a-tty\r\n']);
    expect((await ok(['logs', 'tty'])).stdout).toBe('on-a-tty\r\n');
  });

  it('start -ai passes stdin; a container created with --rm is gone after start -a', async () => {
    await ok(['create', '-i', '--name', 'reader', images.base, 'sh', '-c', 'tr a-z A-Z']);
    const r = await env.ctr(['start', '-ai', 'reader'], { input: 'shout\n' });
    expect([r.code, r.stdout]).toEqual([0, 'SHOUT\n']);
    await ok(['create', '--rm', '--name', 'once', images.base, 'true']);
    expect(lines((await ok(['ps', '-a', '--format', '{{.Names}}'])).stdout).sort()).toEqual(['once', 'reader']);
    expect((await env.ctr(['start', '-a', 'once'])).code).toBe(0);
    expect(lines((await ok(['ps', '-a', '--format', '{{.Names}}'])).stdout)).toEqual(['reader']);
  });

  it('rm takes several names and ID prefixes, reports the missing ones, and needs -f for a running container', async () => {
    const a = (await ok(['create', images.base, 'true'])).stdout.trim();
    await ok(['create', '--name', 'b', images.base, 'true']);
    await ok(['create', '--name', 'c', images.base, 'true']);
    const removed = await env.ctr(['rm', a.slice(0, 7), 'b', 'not-there', 'c']);
    expect(removed.code).toBe(1);
    expect(lines(removed.stdout)).toEqual([a.slice(0, 7), 'b', 'c']);
    expect(removed.stderr).toMatch(/not-there/);
    expect(await env.containers()).toEqual([]);
    expect(readdirSync(join(env.root, 'containers')).filter((n) => n !== 'containers.json')).toEqual([]);
    const runDirs = join(env.runroot, 'containers');
    expect(existsSync(runDirs) ? readdirSync(runDirs) : []).toEqual([]);

    const child = env.spawnCtr(['run', '--name', 'busy', images.base, 'sh', '-c', 'echo ready; exec sleep 100']);
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await printed(child, 'ready');
    expect((await ok(['ps', '--format', '{{.Names}} {{.State}} {{.Status}}'])).stdout).toMatch(/^busy running Up /);
    const refused = await env.ctr(['rm', 'busy']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/busy.*running/);
    expect((await env.ctr(['container', 'prune', '-f'])).code).toBe(0);
    expect(await env.containers()).toHaveLength(1);
    expect((await ok(['rm', '-f', 'busy'])).stdout).toBe('busy\n');
    expect(await exited).toBe(137);
    expect(await env.containers()).toEqual([]);
  });

  it('container prune removes stopped and created containers; inspect shows docker fields; rmi refuses an image in use', async () => {
    await ok(['create', '--name', 'fresh', images.base, 'true']);
    const ran = await env.ctr(['run', '--name', 'done', '--label', 'k=v', '--hostname', 'hh', images.base, 'sh', '-c', 'exit 3']);
    expect(ran.code).toBe(3);
    const [info] = JSON.parse((await ok(['inspect', 'done'])).stdout) as Record<string, any>[];
    expect(info!.Name).toBe('/done');
    expect(info!.Id).toMatch(/^[0-9a-f]{64}$/);
    expect(info!.State).toMatchObject({ Status: 'exited', Running: false, ExitCode: 3 });
    expect(info!.Config).toMatchObject({ Image: images.base, Hostname: 'hh', Labels: { k: 'v' }, Cmd: ['sh', '-c', 'exit 3'] });
    expect(info!.Image).toBe(images.ids.base);
    expect((await ok(['inspect', '--format', '{{.State.ExitCode}} {{.Name}}', 'done'])).stdout).toBe('3 /done\n');

    const rmi = await env.ctr(['rmi', images.base]);
    expect(rmi.code).toBe(1);
    expect(rmi.stderr).toMatch(/(done|fresh)/);
    expect((await ok(['images', '-q', '--no-trunc'])).stdout).toContain(images.ids.base);

    const pruned = await ok(['container', 'prune', '-f']);
    expect(pruned.stdout).toMatch(/^Deleted Containers:\n[0-9a-f]{64}\n[0-9a-f]{64}\n/);
    expect(await env.containers()).toEqual([]);
  });

  it('keeps uid 1000’s files and the setuid bit of a multi-uid image', async () => {
    const r = await ok(['run', '--rm', images.base, 'sh', '-c', 'stat -c "%u:%g %a %n" /home/app /home/app/owned /usr/bin/suid-tool /etc/passwd']);
    expect(r.stdout).toBe('1000:1000 750 /home/app\n1000:1000 600 /home/app/owned\n0:0 4755 /usr/bin/suid-tool\n0:0 644 /etc/passwd\n');
    const asApp = await ok(['run', '--rm', '-u', 'app', images.base, 'sh', '-c', 'cat /home/app/owned; echo new > /home/app/new; stat -c %u:%g /home/app/new']);
    expect(asApp.stdout).toBe('mine\n1000:1000\n');
    const denied = await env.ctr(['run', '--rm', '-u', '1234', images.base, 'cat', '/home/app/owned']);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/Permission denied/);
  });

  it('bind mounts: what container root writes belongs to the user on the host, what uid 1000 writes to its mapped id; :ro is read-only', async () => {
    const dir = join(env.dir, 'bind');
    mkdirSync(dir);
    chownSync(dir, actor.uid, actor.gid);
    chmodSync(dir, 0o777);
    await ok(['run', '--rm', '-v', `${dir}:/b`, images.base, 'sh', '-c', 'echo root > /b/by-root && mkdir /b/sub']);
    await ok(['run', '--rm', '-v', `${dir}:/b`, '-u', '1000:1000', images.base, 'sh', '-c', 'echo app > /b/by-app']);
    const owner = (p: string) => [lstatSync(join(dir, p)).uid, lstatSync(join(dir, p)).gid];
    expect(owner('by-root')).toEqual([actor.uid, actor.gid]);
    expect(owner('sub')).toEqual([actor.uid, actor.gid]);
    expect(owner('by-app')).toEqual([hostId(actor, 1000), hostId(actor, 1000, 'gid')]);
    expect(readFileSync(join(dir, 'by-root'), 'utf8')).toBe('root\n');
    // The user's own files are root's inside the container.
    expect((await ok(['run', '--rm', '-v', `${dir}:/b`, images.base, 'stat', '-c', '%u %n', '/b/by-root', '/b/by-app'])).stdout).toBe('0 /b/by-root\n1000 /b/by-app\n');
    const ro = await env.ctr(['run', '--rm', '-v', `${dir}:/b:ro`, images.base, 'touch', '/b/nope']);
    expect(ro.code).toBe(1);
    expect(ro.stderr).toMatch(/Read-only file system/);
    expect(existsSync(join(dir, 'nope'))).toBe(false);
  });

  it('a named volume keeps its data across containers; volume rm refuses one in use', async () => {
    await ok(['run', '--rm', '-v', 'keep:/v', images.base, 'sh', '-c', 'echo persisted > /v/file']);
    expect((await ok(['run', '--rm', '-v', 'keep:/v:ro', images.base, 'cat', '/v/file'])).stdout).toBe('persisted\n');
    expect(await volumes()).toEqual(['keep']);
    await ok(['create', '--name', 'holder', '-v', 'keep:/v', images.base, 'true']);
    const inUse = await env.ctr(['volume', 'rm', 'keep']);
    expect(inUse.code).not.toBe(0);
    expect(inUse.stderr).toMatch(/keep.*in use.*holder/);
    // rm -v removes anonymous volumes only: the named one stays.
    await ok(['rm', '-v', 'holder']);
    expect(await volumes()).toEqual(['keep']);
    expect((await ok(['volume', 'rm', 'keep'])).stdout).toBe('keep\n');
    expect(await volumes()).toEqual([]);
  });

  it('an image VOLUME becomes an anonymous volume seeded from the image; rm -v and --rm remove it', async () => {
    await ok(['run', '--name', 'seeded', images.vol, 'sh', '-c', 'cat /data/seed; echo more > /data/added']);
    const [anon] = await volumes();
    expect(anon).toMatch(/^[0-9a-f]{64}$/);
    expect((await ok(['logs', 'seeded'])).stdout).toBe('from the image\n');
    const [info] = JSON.parse((await ok(['volume', 'inspect', anon!])).stdout) as { Mountpoint: string }[];
    expect(readFileSync(join(info!.Mountpoint, 'added'), 'utf8')).toBe('more\n');
    await ok(['rm', '-v', 'seeded']);
    expect(await volumes()).toEqual([]);
    await ok(['run', '--rm', images.vol, 'true']);
    expect(await volumes()).toEqual([]);
    // Without -v the anonymous volume outlives its container, as in docker.
    await ok(['run', '--name', 'leaves-one', images.vol, 'true']);
    await ok(['rm', 'leaves-one']);
    expect(await volumes()).toHaveLength(1);
    await ok(['volume', 'prune', '-f']);
    expect(await volumes()).toEqual([]);
  });
});
