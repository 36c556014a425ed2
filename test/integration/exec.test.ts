import { type ChildProcess, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { actors, asActor, CtrEnv } from '../helpers/ctr.js';
import { drivePty } from '../helpers/pty.js';
import { pushRunImages, type RunImages } from '../fixtures/run-images.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';

let reg: TestRegistry;
let images: RunImages;

beforeAll(async () => {
  reg = await startRegistry();
  images = await pushRunImages(reg);
}, 60_000);

afterAll(async () => {
  await reg?.stop();
});

const RAW = { icanon: false, echo: false, isig: false };

/** Resolves with ctr's exit code and what it printed. */
function exitOf(child: ChildProcess): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code: code ?? 128 + (signal === 'SIGKILL' ? 9 : 0), stdout, stderr })));
}

/** Waits until the child printed `text` on stdout. */
function printed(child: ChildProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`ctr did not print ${text}: ${seen}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

/** Waits until no process of this environment (a monitor, its exit command) still runs. */
async function settled(env: CtrEnv): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (spawnSync('pgrep', ['-f', env.dir]).stdout.toString().trim() === '') return;
    await sleep(50);
  }
}

describe.each(actors())('ctr exec as $kind', (actor) => {
  let env: CtrEnv;
  beforeAll(async () => {
    env = new CtrEnv(actor);
    const pulled = await env.ctr(['pull', '-q', images.base]);
    expect(pulled.code, pulled.stderr).toBe(0);
    const started = await env.ctr(['run', '-d', '--name', 'svc', '-e', 'FROM_RUN=run', images.base, 'sleep', '1000']);
    expect(started.code, started.stderr).toBe(0);
  }, 60_000);
  afterAll(async () => {
    const left = (await env.ctr(['ps', '-aq'])).stdout.trim().split('\n').filter(Boolean);
    if (left.length > 0) await env.ctr(['rm', '-f', ...left]);
    await settled(env);
    await env.cleanup();
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
