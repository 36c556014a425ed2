import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { actors, asActor, CtrEnv } from '../helpers/ctr.js';
import { exitOf, printed, waitFor } from '../helpers/process.js';
import { drivePty } from '../helpers/pty.js';
import { useRunImages } from '../fixtures/run-registry.js';

const images = useRunImages();

const RAW = { icanon: false, echo: false, isig: false };

describe.each(actors())('ctr exec as $kind', (actor) => {
  let env: CtrEnv;
  beforeAll(async () => {
    env = await CtrEnv.withImages(actor, images.base);
    const started = await env.ctr(['run', '-d', '--name', 'svc', '-e', 'FROM_RUN=run', images.base, 'sleep', '1000']);
    expect(started.code, started.stderr).toBe(0);
  }, 60_000);
  afterAll(async () => {
    await env?.removeContainers();
    await env?.cleanup();
  });

  it("exits with the command's code: 0, 7, 126 not executable, 127 not found, 125 when the container is not running", async () => {
    const ok = await env.ctr(['exec', 'svc', 'true']);
    expect([ok.code, ok.stdout, ok.stderr]).toEqual([0, '', '']);
    const seven = await env.ctr(['exec', 'svc', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
    expect([seven.code, seven.stdout, seven.stderr]).toEqual([7, 'out\n', 'err\n']);
    const notExec = await env.ctr(['exec', 'svc', '/usr/bin/not-executable']);
    expect(notExec.code).toBe(126);
    expect(notExec.stderr).toMatch(/^Error: .*\/usr\/bin\/not-executable.*permission denied\n$/);
    const notFound = await env.ctr(['exec', 'svc', 'no-such-command']);
    expect(notFound.code).toBe(127);
    expect(notFound.stderr).toMatch(/^Error: .*no-such-command.*not found.*\n$/);

    const created = await env.ctr(['create', '--name', 'idle', images.base, 'true']);
    expect(created.code, created.stderr).toBe(0);
    const notRunning = await env.ctr(['exec', 'idle', 'true']);
    expect([notRunning.code, notRunning.stderr]).toEqual([125, 'Error: container idle is not running\n']);
    const missing = await env.ctr(['exec', 'no-such-container', 'true']);
    expect([missing.code, missing.stderr]).toEqual([125, 'Error: no such container: no-such-container\n']);
    await env.ctr(['rm', 'idle']);
  });

  it("runs with the container's environment, -e and --env-file on top, in -w as -u", async () => {
    const envFile = join(env.dir, 'exec.env');
    writeFileSync(envFile, '# comment\nFROM_FILE=file\nFOO=file\n');
    chownSync(envFile, actor.uid, actor.gid);
    const script = 'echo "$FROM_RUN $FROM_FILE $FOO $(pwd) $(id -un):$(id -gn) $HOME $HOSTNAME"';
    const r = await env.ctr(['exec', '--env-file', envFile, '-e', 'FOO=flag', '-w', '/tmp', '-u', 'app', 'svc', 'sh', '-c', script]);
    expect(r.code, r.stderr).toBe(0);
    const id = (await env.ctr(['ps', '-q', '--filter', 'name=^svc$'])).stdout.trim();
    expect(r.stdout).toBe(`run file flag /tmp app:app /home/app ${id}\n`);
    // Without flags: the container's own user, directory and home.
    const plain = await env.ctr(['exec', 'svc', 'sh', '-c', 'echo "$(id -u) $(pwd) $HOME $FOO"']);
    expect(plain.stdout).toBe('0 / /root \n');
    const numeric = await env.ctr(['exec', '-u', '1234:5678', 'svc', 'id']);
    expect(numeric.stdout).toBe('uid=1234 gid=5678\n');
    const badDir = await env.ctr(['exec', '-w', 'relative', 'svc', 'true']);
    expect(badDir.code).toBe(125);
  });

  it('passes piped standard input byte for byte with -i, and none without it', async () => {
    const data = randomBytes(1_000_000);
    const hashed = await env.ctr(['exec', '-i', 'svc', 'sha256sum'], { input: data });
    expect(hashed.code, hashed.stderr).toBe(0);
    expect(hashed.stdout).toBe(`${createHash('sha256').update(data).digest('hex')}  -\n`);
    const closed = await env.ctr(['exec', 'svc', 'sh', '-c', 'cat; echo end'], { input: 'ignored' });
    expect(closed.stdout).toBe('end\n');
  });

  it('gives -t a terminal of the user size in raw mode, and restores the terminal afterwards', () => {
    const r = drivePty({
      argv: asActor(actor, [...inject('ctrCommand'), 'exec', '-it', 'svc', 'sh']),
      env: env.env(),
      size: [30, 100],
      steps: [
        { expect: '# ' },
        { mode: true },
        { send: 'stty size; tty; echo "term=$TERM"\r' },
        { expect: 'term=xterm' },
        { resize: [40, 120] },
        { sleep: 0.3 },
        { send: 'stty size\r' },
        { expect: '40 120' },
        { send: 'exit 3\r' },
      ],
    });
    expect(r.error, r.output).toBeNull();
    expect(r.code, r.output).toBe(3);
    expect(r.output).toContain('30 100\r\n/dev/pts/');
    expect(r.modes).toEqual([RAW]);
    expect(r.after).toEqual(r.before);
  });

  it('starts a background process with -d and prints nothing', async () => {
    const r = await env.ctr(['exec', '-d', 'svc', 'sh', '-c', 'echo started > /tmp/marker; exec sleep 999']);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, '', '']);
    let ps = '';
    for (let i = 0; i < 50 && !ps.includes('sleep 999'); i++) {
      ps = (await env.ctr(['exec', 'svc', 'ps', '-o', 'args'])).stdout;
      await sleep(50);
    }
    expect(ps).toContain('sleep 999');
    expect((await env.ctr(['exec', 'svc', 'cat', '/tmp/marker'])).stdout).toBe('started\n');
    const failed = await env.ctr(['exec', '-d', 'svc', 'no-such-command']);
    expect(failed.code).toBe(127);
  });

  it('-d -t gives the command a terminal of its own whose output is dropped; what holds it ends with the command', async () => {
    const id = (await env.ctr(['inspect', '--format', '{{.Id}}', 'svc'])).stdout.trim();
    const holders = () => spawnSync('pgrep', ['-f', `ctr-exec-terminal ${id}`]).stdout.toString().trim();
    // More output than a terminal buffers: the command only gets to "done" if someone reads it.
    const r = await env.ctr(['exec', '-dt', 'svc', 'sh', '-c', 'tty > /tmp/dt; stty size >> /tmp/dt; yes | head -c 300000; echo done >> /tmp/dt']);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, '', '']);
    let seen = '';
    await waitFor('the command has written everything', async () => (seen = (await env.ctr(['exec', 'svc', 'cat', '/tmp/dt'])).stdout).endsWith('done\n'));
    expect(seen).toMatch(/^\/dev\/pts\/\d+\n24 80\ndone\n$/);
    await waitFor('the terminal holder has ended', () => holders() === '');
  });

  it('-it: the detach keys (ctrl-p ctrl-q, or --detach-keys) return and leave the command running with its terminal', async () => {
    const detach = (keys: string[], send: string) =>
      drivePty({
        argv: asActor(actor, [...inject('ctrCommand'), 'exec', '-it', ...keys, 'svc', 'sh']),
        env: env.env(),
        size: [24, 80],
        steps: [{ expect: '# ' }, { send: 'echo $$ >> /tmp/shells; echo "x$((1+1))"\r' }, { expect: 'x2' }, { send }],
      });
    for (const [keys, send] of [[[], '\x10\x11'], [['--detach-keys', 'ctrl-x'], '\x18']] as const) {
      const r = detach([...keys], send);
      expect(r.error, r.output).toBeNull();
      expect(r.code, r.output).toBe(0);
      expect(r.after).toEqual(r.before);
    }
    const shells = (await env.ctr(['exec', 'svc', 'cat', '/tmp/shells'])).stdout.trim().split('\n');
    expect(shells).toHaveLength(2);
    // Both shells still run and still answer on their terminals' behalf; then they are ended.
    const alive = await env.ctr(['exec', 'svc', 'kill', '-0', ...shells]);
    expect([alive.code, alive.stderr]).toEqual([0, '']);
    expect((await env.ctr(['exec', 'svc', 'kill', '-9', ...shells])).code).toBe(0);
    const id = (await env.ctr(['inspect', '--format', '{{.Id}}', 'svc'])).stdout.trim();
    await waitFor('the terminal holders have ended', () => spawnSync('pgrep', ['-f', `ctr-exec-terminal ${id}`]).stdout.toString().trim() === '');

    const bad = await env.ctr(['exec', '--detach-keys', 'ctrl-foo', 'svc', 'true']);
    expect([bad.code, bad.stdout]).toEqual([125, '']);
    expect(bad.stderr).toMatch(/^Error: invalid detach keys "ctrl-foo"/);
  });

  it('forwards signals sent to ctr to the command', async () => {
    const child = env.spawnCtr(['exec', 'svc', 'sh', '-c', 'trap "exit 42" TERM; echo ready; while :; do sleep 0.1; done']);
    const done = exitOf(child);
    await printed(child, 'ready');
    child.kill('SIGTERM');
    expect((await done).code).toBe(42);
  });

  it('runs commands in a container that another ctr runs in the foreground', async () => {
    const fg = env.spawnCtr(['run', '--rm', '--name', 'fg', images.base, 'sh', '-c', 'trap "exit 9" TERM; echo ready; while :; do sleep 0.1; done']);
    const done = exitOf(fg);
    await printed(fg, 'ready');
    const r = await env.ctr(['exec', '-u', 'app', 'fg', 'sh', '-c', 'echo "in $(hostname) as $(id -un)"; exit 5']);
    expect([r.code, r.stderr]).toEqual([5, '']);
    expect(r.stdout).toMatch(/^in [0-9a-f]{12} as app\n$/);
    fg.kill('SIGTERM');
    expect((await done).code).toBe(9);
  });
});
