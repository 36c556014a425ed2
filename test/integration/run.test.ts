import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { actors, asActor, CtrEnv } from '../helpers/ctr.js';
import { exitOf, printed } from '../helpers/process.js';
import { drivePty } from '../helpers/pty.js';
import { useRunImages } from '../fixtures/run-registry.js';

const images = useRunImages();

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

describe.each(actors())('ctr run as $kind', (actor) => {
  let env: CtrEnv;
  beforeAll(async () => {
    env = await CtrEnv.withImages(actor, images.base);
  });
  afterAll(async () => {
    await env?.cleanup();
  });

  // What the store holds, faster than ps when checked after every case.
  const containerDirs = () => (existsSync(join(env.root, 'containers')) ? readdirSync(join(env.root, 'containers')).filter((n) => n !== 'containers.json') : []);
  // A test that left containers behind fails on its own; the next one starts clean.
  afterEach(() => env.removeContainers());

  it('exits with the container code: 0, 7, 126 not executable, 127 not found, 137 for a child killed by SIGKILL', async () => {
    const ok = await env.ctr(['run', '--rm', images.base, 'true']);
    expect([ok.code, ok.stdout, ok.stderr]).toEqual([0, '', '']);
    const seven = await env.ctr(['run', '--rm', images.base, 'sh', '-c', 'exit 7']);
    expect(seven.code, seven.stderr).toBe(7);

    const notExec = await env.ctr(['run', '--rm', images.base, '/usr/bin/not-executable']);
    expect(notExec.code).toBe(126);
    expect(notExec.stderr).toMatch(/^Error: .*\/usr\/bin\/not-executable.*permission denied\n$/);
    const notFound = await env.ctr(['run', '--rm', images.base, 'no-such-command']);
    expect(notFound.code).toBe(127);
    expect(notFound.stderr).toMatch(/^Error: .*no-such-command.*not found.*\n$/);
    const noPath = await env.ctr(['run', '--rm', images.base, '/no/such/file']);
    expect(noPath.code).toBe(127);

    const killed = await env.ctr(['run', '--rm', images.base, 'sh', '-c', 'sleep 100 & kill -9 $!; wait $!']);
    expect(killed.code).toBe(137);
    const initKilled = await env.ctr(['run', '--rm', '--init', images.base, 'sh', '-c', 'kill -9 $$']);
    expect(initKilled.code).toBe(137);
    // --rm cleaned up after each of them, failed starts included.
    expect(await env.containers()).toEqual([]);
  });

  it('forwards SIGTERM and SIGINT to the container: --init exits 143 and 130, a shell trap exits with its code', async () => {
    const cases: { args: string[]; signal: NodeJS.Signals; code: number }[] = [
      { args: ['--init', images.base, 'sh', '-c', 'echo ready; exec sleep 100'], signal: 'SIGTERM', code: 143 },
      { args: ['--init', images.base, 'sh', '-c', 'echo ready; exec sleep 100'], signal: 'SIGINT', code: 130 },
      { args: [images.base, 'sh', '-c', 'trap "exit 42" TERM; echo ready; while :; do sleep 0.1; done'], signal: 'SIGTERM', code: 42 },
      { args: [images.base, 'sh', '-c', 'trap "exit 43" USR1; echo ready; while :; do sleep 0.1; done'], signal: 'SIGUSR1', code: 43 },
    ];
    const results = await Promise.all(
      cases.map(async (c) => {
        const child = env.spawnCtr(['run', '--rm', ...c.args]);
        const done = exitOf(child);
        await printed(child, 'ready');
        child.kill(c.signal);
        return (await done).code;
      }),
    );
    expect(results).toEqual(cases.map((c) => c.code));
    expect(await env.containers()).toEqual([]);
  });

  it('passes stdin and stdout through byte for byte, and keeps stdout and stderr apart', async () => {
    const data = randomBytes(1_000_000);
    const hashed = await env.ctr(['run', '-i', '--rm', images.base, 'sha256sum'], { input: data });
    expect(hashed.code, hashed.stderr).toBe(0);
    expect(hashed.stdout).toBe(`${sha(data)}  -\n`);
    // Binary back out: the bytes the container prints, as the test's random file holds them.
    const file = join(env.dir, 'random.bin');
    writeFileSync(file, data);
    const out = execFileSync('sh', ['-c', `"$@" < ${file} | sha256sum`, 'sh', ...asActor(actor, [...inject('ctrCommand'), 'run', '-i', '--rm', images.base, 'cat'])], { env: env.env() });
    expect(out.toString()).toBe(`${sha(data)}  -\n`);

    const split = await env.ctr(['run', '--rm', images.base, 'sh', '-c', 'echo to-out; echo to-err >&2; echo more-out']);
    expect([split.stdout, split.stderr]).toEqual(['to-out\nmore-out\n', 'to-err\n']);
    // Without -i the container reads nothing.
    const noInput = await env.ctr(['run', '--rm', images.base, 'cat'], { input: 'not passed' });
    expect([noInput.code, noInput.stdout]).toEqual([0, '']);
  });

  it('pipes a tar archive into the container and another one out of it', () => {
    const src = join(env.dir, 'tree');
    const dest = join(env.dir, 'tree-out');
    mkdirSync(join(src, 'sub'), { recursive: true });
    mkdirSync(dest);
    writeFileSync(join(src, 'sub/file.txt'), 'inside a tar\n');
    writeFileSync(join(src, 'bytes.bin'), randomBytes(70_000));
    const ctr = asActor(actor, [...inject('ctrCommand'), 'run', '-i', '--rm', images.base, 'sh', '-c', 'mkdir /x && tar x -C /x && cat /x/sub/file.txt >&2 && tar c -C /x .']);
    const r = spawnSync('sh', ['-c', `tar c -C ${src} . | "$@" | tar x -C ${dest}`, 'sh', ...ctr], { env: env.env() });
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(r.stderr.toString()).toBe('inside a tar\n');
    expect(readFileSync(join(dest, 'sub/file.txt'), 'utf8')).toBe('inside a tar\n');
    expect(sha(readFileSync(join(dest, 'bytes.bin')))).toBe(sha(readFileSync(join(src, 'bytes.bin'))));
  });

  // Node reads any argument named --env-file before ctr's code runs (nodejs/node#54232): the build disables that scan.
  it('passes arguments that look like Node options to the container untouched', async () => {
    const r = await env.ctr(['run', '--rm', images.base, 'echo', '--env-file', '/only/in/the/container.env', '--inspect']);
    expect(r.stderr).toBe('');
    expect([r.code, r.stdout]).toEqual([0, '--env-file /only/in/the/container.env --inspect\n']);
  });

  it('reports a missing --env-file as its own error: 125, one line, no container', async () => {
    const r = await env.ctr(['run', '--env-file', join(env.dir, 'no-such.env'), images.base, 'true']);
    expect(r.code, r.stderr).toBe(125);
    expect(r.stderr).toMatch(/^Error: .*no-such\.env.*\n$/);
    expect(await env.containers()).toEqual([]);
  });

  it('ends cleanly when the reader of its output goes away (| head), and --rm still removes the container', async () => {
    const child = env.spawnCtr(['run', '--rm', images.base, 'yes']);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    child.stdout!.destroy();
    const code = await closed;
    expect(stderr).not.toMatch(/EPIPE|node:events|at /);
    expect(code).not.toBeNull();
    expect(await env.containers()).toEqual([]);
  });

  it('gives -it a real terminal: raw mode inside, the exit code out, the user terminal restored', () => {
    const r = drivePty({
      argv: asActor(actor, [...inject('ctrCommand'), 'run', '-it', '--rm', images.base, 'sh']),
      env: env.env({ TERM: 'xterm' }),
      size: [33, 101],
      timeout: 40,
      steps: [{ expect: '# ' }, { mode: true }, { send: 'stty size; tty; echo "h""i"; exit 3\r' }, { expect: 'hi' }],
    });
    const raw = !r.modes[0]!.icanon && !r.modes[0]!.echo;
    const restored = JSON.stringify(r.after) === JSON.stringify(r.before);
    expect(r.error, r.output).toBeNull();
    expect(r.code, r.output).toBe(3);
    expect(r.output).toContain('33 101\r\n/dev/pts/0\r\nhi\r\n');
    expect(raw).toBe(true);
    expect(restored).toBe(true);
  });

  it('runs several -t containers at once, each exiting with its own code and removed by --rm', async () => {
    const codes = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => env.ctr(['run', '-t', '--rm', images.base, 'sh', '-c', `echo run-${n}; exit ${n}`])));
    expect(codes.map((r) => [r.code, r.stdout, r.stderr])).toEqual([1, 2, 3, 4, 5, 6].map((n) => [n, `run-${n}\r\n`, '']));
    expect(await env.containers()).toEqual([]);
  });

  it('refuses -it when stdin is not a terminal, with docker’s message', async () => {
    const r = await env.ctr(['run', '-it', '--rm', images.base, 'true']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Error: the input device is not a TTY\n');
    expect(await env.containers()).toEqual([]);
  });

  // Without a terminal the runtime starts before the spec is made and reads it from a FIFO at the
  // bundle's config.json (src/engine/foreground.ts).
  it('stops the runtime it started when the spec cannot be made, and leaves a regular config.json to the running container', async () => {
    const id = (r: { stdout: string }) => r.stdout.trim();
    const noUser = await env.ctr(['run', '--name', 'no-user', '-u', 'no-such-user', images.base, 'true']);
    expect(noUser.code, noUser.stderr).toBe(125);
    expect(noUser.stderr).toMatch(/^Error: unable to find user no-such-user/);
    const created = id(await env.ctr(['inspect', '--format', '{{.Id}}', 'no-user']));
    expect((await env.ctr(['inspect', '--format', '{{.State.Status}}', 'no-user'])).stdout.trim()).toBe('created');
    // No FIFO that a later reader would wait on for ever, and no runtime left waiting for its spec.
    expect(existsSync(join(env.runroot, 'containers', created, 'config.json'))).toBe(false);
    expect(spawnSync('pgrep', ['-f', created]).stdout.toString()).toBe('');
    // Started again, it fails the same way rather than hanging.
    const again = await env.ctr(['start', '-a', 'no-user'], { timeoutMs: 20_000 });
    expect([again.code, again.stderr]).toEqual([125, noUser.stderr]);

    const script = 'trap "exit 42" TERM; echo ready; while :; do sleep 0.1; done';
    const child = env.spawnCtr(['run', '--name', 'up', images.base, 'sh', '-c', script]);
    const done = exitOf(child);
    await printed(child, 'ready');
    const up = id(await env.ctr(['inspect', '--format', '{{.Id}}', 'up']));
    const config = join(env.runroot, 'containers', up, 'config.json');
    expect(statSync(config).isFile()).toBe(true);
    expect(JSON.parse(readFileSync(config, 'utf8')).process.args).toEqual(['sh', '-c', script]);
    const exec = await env.ctr(['exec', 'up', 'echo', 'in']);
    expect([exec.code, exec.stdout]).toEqual([0, 'in\n']);
    child.kill('SIGTERM');
    expect((await done).code).toBe(42);
  });

  it('fails with exit 125 and one line on an unknown image, a bad flag or a bad value, leaving no container', async () => {
    const cases: [string[], RegExp][] = [
      [['run', `${images.registry.host}/test/missing:latest`, 'true'], /test\/missing/],
      [['run', '--pull=never', `${images.registry.host}/test/run-entry:latest`], /no such image: .*run-entry.*--pull=never/],
      [['run', '--pull=sometimes', images.base, 'true'], /--pull/],
      [['run', '--network', 'bogus-net', images.base, 'true'], /--network bogus-net/],
      [['run', '--name', 'bad name!', images.base, 'true'], /invalid container name/],
      [['run', '--ulimit', 'bogus=1', images.base, 'true'], /bogus/],
      [['run', '--tmpfs', 'relative/path', images.base, 'true'], /relative\/path/],
      [['run', '--cap-add', 'NOT_A_CAP', images.base, 'true'], /NOT_A_CAP/],
      [['run', '--security-opt', `seccomp=${join(env.dir, 'no-profile.json')}`, images.base, 'true'], /no-profile\.json/],
      [['create', '--cap-add', 'NOT_A_CAP', images.base, 'true'], /NOT_A_CAP/],
      [['create', '--shm-size', 'lots', images.base, 'true'], /lots/],
    ];
    for (const [args, message] of cases) {
      const r = await env.ctr(args);
      const what = `ctr ${args.join(' ')}: ${r.stderr}`;
      expect(r.code, what).toBe(125);
      expect(r.stderr, what).toMatch(message);
      expect(r.stderr.trim().split('\n').filter((l) => l.startsWith('Error')), what).toHaveLength(1);
      expect(containerDirs(), what).toEqual([]);
    }
    const flag = await env.ctr(['run', '--no-such-flag', images.base, 'true']);
    expect(flag.code).toBe(125);
    expect(flag.stderr).toMatch(/--no-such-flag/);
    expect(await env.containers()).toEqual([]);
  });
});
