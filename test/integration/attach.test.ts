import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { actors, asActor, CtrEnv } from '../helpers/ctr.js';
import { printed } from '../helpers/process.js';
import { drivePty, type Step } from '../helpers/pty.js';
import { useRunImages } from '../fixtures/run-registry.js';

const images = useRunImages();

const RAW = { icanon: false, echo: false, isig: false };

describe.each(actors())('ctr attach as $kind', (actor) => {
  let env: CtrEnv;
  beforeAll(async () => {
    env = await CtrEnv.withImages(actor, images.base);
  });
  afterEach(() => env.removeContainers());
  afterAll(async () => {
    await env?.cleanup();
  });

  const runDetached = async (args: string[]) => {
    const r = await env.ctr(['run', '-d', ...args]);
    expect(r.code, r.stderr).toBe(0);
  };
  const attach = (args: string[], steps: Step[]) =>
    drivePty({ argv: asActor(actor, [...inject('ctrCommand'), 'attach', ...args]), env: env.env(), size: [30, 100], steps, timeout: 20 });
  const status = async (name: string) => (await env.ctr(['ps', '-a', '--filter', `name=^${name}$`, '--format', '{{.Status}}'])).stdout.trim();

  it('connects the terminal to a -t container: typed input runs, ctrl-p ctrl-q detaches and leaves it running', async () => {
    await runDetached(['-it', '--name', 'tty', images.base, 'sh']);
    const r = attach(['tty'], [
      { send: '\r' },
      { expect: '# ' },
      { mode: true },
      { send: 'stty size; echo "sum=$((6*7))"\r' },
      { expect: 'sum=42' },
      { send: '\x10\x11' },
    ]);
    expect(r.error, r.output).toBeNull();
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('30 100\r\n');
    expect(r.modes).toEqual([RAW]);
    expect(r.after).toEqual(r.before);
    expect(await status('tty')).toMatch(/^Up /);
    // The shell is still there, with what the session left in it.
    expect((await env.ctr(['exec', 'tty', 'sh', '-c', 'echo alive'])).stdout).toBe('alive\n');
  });

  it('attaches again after a detach, and exits with the code of the container when it ends', async () => {
    await runDetached(['-it', '--name', 'again', images.base, 'sh']);
    const first = attach(['again'], [{ send: '\r' }, { expect: '# ' }, { send: 'echo first\r' }, { expect: 'first' }, { send: '\x10\x11' }]);
    expect([first.error, first.code], first.output).toEqual([null, 0]);
    const second = attach(['again'], [{ send: '\r' }, { expect: '# ' }, { send: 'echo "second$((1+1))"\r' }, { expect: 'second2' }, { send: 'exit 5\r' }]);
    expect(second.error, second.output).toBeNull();
    expect(second.code, second.output).toBe(5);
    expect(second.after).toEqual(second.before);
    expect(await status('again')).toMatch(/^Exited \(5\) /);
  });

  it('takes other detach keys, and none at all with --detach-keys ""', async () => {
    await runDetached(['-it', '--name', 'custom', images.base, 'sh']);
    const custom = attach(['--detach-keys', 'ctrl-a', 'custom'], [{ send: '\r' }, { expect: '# ' }, { send: 'echo "x$((2+2))"\r' }, { expect: 'x4' }, { send: '\x01' }]);
    expect([custom.error, custom.code], custom.output).toEqual([null, 0]);
    expect(await status('custom')).toMatch(/^Up /);

    await runDetached(['-it', '--name', 'nokeys', images.base, 'sh']);
    // ctrl-p ctrl-q reach the shell (ctrl-p recalls the last line), then the shell's exit ends the session.
    const none = attach(['--detach-keys=', 'nokeys'], [
      { send: '\r' },
      { expect: '# ' },
      { send: 'echo "y$((3+3))"\r' },
      { expect: 'y6' },
      { send: '\x10\x11' },
      { sleep: 0.3 },
      { send: '\x03' },
      { expect: '# ' },
      { send: 'exit 4\r' },
    ]);
    expect(none.error, none.output).toBeNull();
    expect(none.code, none.output).toBe(4);

    const bad = await env.ctr(['attach', '--detach-keys', 'ctrl-foo', 'custom']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/^Error: invalid detach keys "ctrl-foo"/);
  });

  it('keeps the output and error of a container without a terminal apart, and ends with its exit code', async () => {
    await runDetached(['--name', 'plain', images.base, 'sh', '-c', 'sleep 1; echo out1; echo err1 >&2; echo out2; echo err2 >&2; exit 6']);
    const r = await env.ctr(['attach', 'plain']);
    expect(r.code, r.stderr).toBe(6);
    expect(r.stdout).toBe('out1\nout2\n');
    expect(r.stderr).toBe('err1\nerr2\n');

    // Signals ctr receives reach the container (--sig-proxy, on by default).
    await runDetached(['--name', 'trapper', images.base, 'sh', '-c', 'trap "echo got-term; exit 8" TERM; while :; do echo tick; sleep 0.1; done']);
    const child = env.spawnCtr(['attach', 'trapper']);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const code = new Promise<number | null>((resolve) => child.on('close', resolve));
    await printed(child, 'tick');
    child.kill('SIGTERM');
    expect(await code).toBe(8);
    expect(out).toMatch(/tick\ngot-term\n$/);
  });

  it('passes piped input to a container started with -i', async () => {
    await runDetached(['-i', '--name', 'reader', images.base, 'sh', '-c', 'while read l; do echo "got $l"; [ "$l" = quit ] && exit 3; done']);
    const r = await env.ctr(['attach', 'reader'], { input: 'one\ntwo\nquit\n' });
    expect([r.code, r.stdout, r.stderr]).toEqual([3, 'got one\ngot two\ngot quit\n', '']);
    // --no-stdin: only the output, and the container keeps waiting for input.
    await runDetached(['-i', '--name', 'waiting', images.base, 'sh', '-c', 'echo hello; sleep 1; echo bye; read l; echo "read $l"']);
    const watch = env.spawnCtr(['attach', '--no-stdin', '--sig-proxy=false', 'waiting']);
    await printed(watch, 'bye');
    watch.kill('SIGTERM');
    await new Promise((resolve) => watch.on('close', resolve));
    expect(await status('waiting')).toMatch(/^Up /);
  });

  // Containers run in the foreground of another ctr: see attach-foreground.test.ts.
  it('names a container that does not exist or no longer runs', async () => {
    const ran = await env.ctr(['run', '--name', 'done', images.base, 'true']);
    expect(ran.code, ran.stderr).toBe(0);
    const exited = await env.ctr(['attach', 'done']);
    expect([exited.code, exited.stderr]).toEqual([125, 'Error: container done is not running\n']);
    const stopped = await env.ctr(['attach', 'no-such']);
    expect([stopped.code, stopped.stderr]).toEqual([125, 'Error: no such container: no-such\n']);
  });
});
