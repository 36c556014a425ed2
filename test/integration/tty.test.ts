import { execFileSync } from 'node:child_process';
import { chownSync, copyFileSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { actors, asActor, CtrEnv } from '../helpers/ctr.js';
import { drivePty, type DriveResult, type Step } from '../helpers/pty.js';

// Drives a command through a real pseudo-terminal: the command's stdin, stdout and stderr are
// the slave (its controlling terminal), the steps type keys, resize it, signal the command;
// prints the transcript, the exit code and the terminal's mode before, during and after.

const RAW = { icanon: false, echo: false, isig: false };


function subordinateStart(file: string, user: string): number {
  const line = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(`${user}:`));
  if (!line) throw new Error(`no ${file} range for ${user}`);
  return Number(line.split(':')[1]);
}

/** A runc bundle of Debian's static busybox running args; rootless for the test user, with its subuids. */
function makeBundle(env: CtrEnv, name: string, args: string[]): string {
  const bundle = join(env.dir, name);
  const rootfs = join(bundle, 'rootfs');
  for (const dir of ['bin', 'etc', 'tmp', 'root', 'proc', 'sys', 'dev']) mkdirSync(join(rootfs, dir), { recursive: true });
  copyFileSync('/bin/busybox', join(rootfs, 'bin/busybox'));
  for (const applet of execFileSync('/bin/busybox', ['--list']).toString().split('\n')) {
    if (applet && applet !== 'busybox') symlinkSync('busybox', join(rootfs, 'bin', applet));
  }
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  const rootless = env.actor.kind === 'user';
  execFileSync('runc', rootless ? ['spec', '--rootless'] : ['spec'], { cwd: bundle });
  const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
  config.process.args = args;
  if (rootless) {
    const user = execFileSync('id', ['-un', String(env.actor.uid)]).toString().trim();
    config.linux.uidMappings = [
      { containerID: 0, hostID: env.actor.uid, size: 1 },
      { containerID: 1, hostID: subordinateStart('/etc/subuid', user), size: 65536 },
    ];
    config.linux.gidMappings = [
      { containerID: 0, hostID: env.actor.gid, size: 1 },
      { containerID: 1, hostID: subordinateStart('/etc/subgid', user), size: 65536 },
    ];
  }
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(config, null, 2));
  if (rootless) execFileSync('chown', ['-R', `${env.actor.uid}:${env.actor.gid}`, bundle]);
  return bundle;
}

/** Runs `ctr __tty-test ARGS` on a fresh pseudo-terminal of the given size, as the actor. */
function drive(env: CtrEnv, args: string[], steps: Step[], opts: { size?: [number, number]; timeout?: number } = {}): DriveResult {
  const cfg = {
    argv: asActor(env.actor, [...inject('ctrCommand'), '__tty-test', ...args]),
    env: env.env({ TMPDIR: join(env.dir, 'tmp') }),
    size: opts.size ?? [24, 80],
    timeout: opts.timeout ?? 60,
    steps,
  };
  return drivePty(cfg);
}

describe.each(actors())('ctr with a container terminal as $kind', (actor) => {
  let env: CtrEnv;
  let shell: string;
  beforeAll(() => {
    env = new CtrEnv(actor);
    mkdirSync(join(env.dir, 'tmp'));
    chownSync(join(env.dir, 'tmp'), actor.uid, actor.gid);
    shell = makeBundle(env, 'shell', ['sh']);
  });
  afterAll(async () => {
    await env.cleanup();
  });

  it('gives an interactive shell a raw terminal of the user size that follows resizes, and exits with its code', () => {
    const r = drive(env, ['-i', shell], [
      { expect: '# ' },
      { mode: true },
      { send: 'stty size\r' },
      { expect: '# ' },
      { resize: [50, 120] },
      { sleep: 0.3 },
      { send: 'stty size; echo hel""lo\r' },
      { expect: 'hello' },
      { send: 'exit 3\r' },
    ], { size: [40, 100] });
    expect(r.error, r.output).toBeNull();
    expect(r.code, r.output).toBe(3);
    expect(r.output).toContain('\r\n40 100\r\n');
    expect(r.output).toContain('\r\n50 120\r\n');
    expect(r.modes).toEqual([RAW]);
    expect(r.after).toEqual(r.before);
  });

  it('sends Ctrl-C to the container as a key: it interrupts the command there, not ctr', () => {
    const started = Date.now();
    const r = drive(env, ['-i', shell], [
      { expect: '# ' },
      { send: 'sleep 30\r' },
      { sleep: 0.5 },
      { send: '\x03' },
      { expect: '# ' },
      { send: 'echo alive$((1+1))\r' },
      { expect: 'alive2' },
      { send: 'exit\r' },
    ]);
    expect(r.error, r.output).toBeNull();
    expect(r.code, r.output).toBe(0);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(r.after).toEqual(r.before);
  });

  it('copies all of a large output and a large input through the terminal', () => {
    const lines = makeBundle(env, `lines-${Date.now()}`, ['seq', '1', '100000']);
    const out = drive(env, [lines], []);
    expect(out.error).toBeNull();
    expect(out.code).toBe(0);
    // Without -i the user's terminal keeps its output processing (ONLCR): lines end in \r\r\n there.
    const numbers = out.output.split(/\r*\n/).filter(Boolean);
    expect(numbers.length).toBe(100000);
    expect(numbers.at(-1)).toBe('100000');
    // The container reads nothing for a second: the pty fills up and ctr must wait, not drop or hang.
    const counter = makeBundle(env, `count-${Date.now()}`, ['sh', '-c', 'stty raw -echo; echo ready; sleep 1; head -c 200000 | wc -c']);
    const inp = drive(env, ['-i', counter], [{ expect: 'ready' }, { send: 'x'.repeat(1000), repeat: 200 }]);
    expect(inp.error, inp.output).toBeNull();
    expect(inp.code, inp.output).toBe(0);
    expect(inp.output).toMatch(/\b200000\b/);
    expect(inp.after).toEqual(inp.before);
  });

  it('restores the user terminal when ctr is killed by SIGTERM or SIGHUP, or crashes', () => {
    for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
      const killed = drive(env, ['-i', shell], [{ expect: '# ' }, { mode: true }, { signal }]);
      expect(killed.error, killed.output).toBeNull();
      expect(killed.code).toBe(signal === 'SIGTERM' ? -15 : -1);
      expect(killed.modes).toEqual([RAW]);
      expect(killed.after).toEqual(killed.before);
    }
    const crashed = drive(env, ['-i', '--fail-after', '500', shell], [{ expect: '# ' }, { mode: true }, { sleep: 1 }]);
    expect(crashed.error, crashed.output).toBeNull();
    expect(crashed.output).toContain('crash requested by --fail-after');
    expect(crashed.code).toBe(1);
    expect(crashed.modes).toEqual([RAW]);
    expect(crashed.after).toEqual(crashed.before);
  });

  it('runs -t without a terminal on stdin: the container still gets a pty', async () => {
    const bundle = makeBundle(env, 'no-input', ['sh', '-c', 'tty; test -t 0 && test -t 1 && echo stdio-is-a-tty; exit 7']);
    const r = await env.exec([...inject('ctrCommand'), '__tty-test', bundle], { env: { TMPDIR: join(env.dir, 'tmp') } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(7);
    // Output went through the pty's line discipline, as with docker run -t.
    expect(r.stdout).toBe('/dev/pts/0\r\nstdio-is-a-tty\r\n');
  });

  it('refuses -i -t when stdin is not a terminal, as docker does', async () => {
    const tmp = join(env.dir, 'refused-tmp');
    mkdirSync(tmp);
    chownSync(tmp, actor.uid, actor.gid);
    const r = await env.exec([...inject('ctrCommand'), '__tty-test', '-i', shell], { env: { TMPDIR: tmp } });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Error: the input device is not a TTY\n');
    expect(readdirSync(tmp)).toEqual([]);
  });
});
