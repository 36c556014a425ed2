import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { actors, CtrEnv, type RunResult } from '../helpers/ctr.js';
import { waitFor } from '../helpers/process.js';
import { busyboxLayer, pushRunImage, usersLayer } from '../fixtures/run-images.js';
import { useRunImages } from '../fixtures/run-registry.js';

const images = useRunImages();
/** Cmd: exits 10 on its STOPSIGNAL (SIGUSR1) and ignores SIGTERM. */
let stopsig: string;

beforeAll(async () => {
  await pushRunImage(images.registry, 'test/run-stopsig', 'latest', [busyboxLayer(), usersLayer()], {
    Cmd: ['sh', '-c', 'trap "exit 10" USR1; trap "" TERM; echo ready; sleep 1000 & wait; wait'],
    StopSignal: 'SIGUSR1',
  });
  stopsig = `${images.registry.host}/test/run-stopsig:latest`;
}, 60_000);

// A service that stops at once on SIGTERM (as a container's pid 1 it needs a handler for that).
const SERVICE = ['sh', '-c', 'trap "exit 0" TERM; echo up; sleep 1000 & wait'];

const lines = (s: string) => s.split('\n').filter(Boolean);

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe.each(actors())('detached containers and their lifecycle as $kind', (actor) => {
  let env: CtrEnv;
  beforeAll(async () => {
    env = await CtrEnv.withImages(actor, images.base, stopsig);
  });
  afterAll(async () => {
    await env?.cleanup();
  });

  const ctr = (args: string[]) => env.ctr(args);
  const ok = async (args: string[]): Promise<RunResult> => {
    const r = await env.ctr(args);
    expect(r.code, `ctr ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r;
  };
  const runD = async (args: string[]): Promise<string> => (await ok(['run', '-d', ...args])).stdout.trim();
  const status = async (name: string) => (await ok(['ps', '-a', '--filter', `name=^${name}$`, '--format', '{{.Status}}'])).stdout.trim();
  const state = async (name: string) => (await ok(['ps', '-a', '--filter', `name=^${name}$`, '--format', '{{.State}}'])).stdout.trim();
  const inspect = async (name: string) => (JSON.parse((await ok(['inspect', name])).stdout) as Record<string, any>[])[0]!;
  const logs = async (name: string) => (await ok(['logs', name])).stdout;
  const runDir = (id: string) => join(env.runroot, 'containers', id);
  const conmonPid = (id: string) => Number(readFileSync(join(runDir(id), 'conmon.pid'), 'utf8'));
  /** conmon processes still running for this store. */
  const monitors = () =>
    readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')[0]!.endsWith('conmon') && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(env.runroot);
        } catch {
          return false;
        }
      });

  // Every test ends with no container and no monitor of this store left running.
  afterEach(async () => {
    await env.removeContainers();
    await waitFor('every monitor has exited', () => monitors().length === 0);
  });

  it('run -d prints the full ID and returns while the container runs; ps, logs, wait and inspect see it from other commands', async () => {
    const id = await runD(['--name', 'job', images.base, 'sh', '-c', 'echo to-out; echo to-err >&2; sleep 3; exit 3']);
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(await status('job')).toMatch(/^Up (Less than a second|\d+ seconds?)$/);
    expect((await ok(['ps', '--format', '{{.ID}} {{.Names}} {{.State}}'])).stdout).toBe(`${id.slice(0, 12)} job running\n`);
    const running = await inspect('job');
    expect([running.State.Status, running.State.Running]).toEqual(['running', true]);
    expect(alive(running.State.Pid)).toBe(true);
    const waited = await ok(['wait', 'job']);
    expect(waited.stdout).toBe('3\n');
    expect(await status('job')).toMatch(/^Exited \(3\) (Less than a second|\d+ seconds?) ago$/);
    const done = await ctr(['logs', 'job']);
    expect([done.stdout, done.stderr]).toEqual(['to-out\n', 'to-err\n']);
    expect((await inspect('job')).State).toMatchObject({ Status: 'exited', Running: false, ExitCode: 3, Pid: 0 });
    // wait on a container that already exited answers at once; several at once in order
    const other = await runD([images.base, 'sh', '-c', 'exit 9']);
    expect((await ok(['wait', other.slice(0, 12), 'job'])).stdout).toBe('9\n3\n');
    const missing = await ctr(['wait', 'job', 'no-such']);
    expect([missing.code, missing.stdout]).toEqual([1, '3\n']);
    expect(missing.stderr).toMatch(/no-such/);
  });

  it('run -d -t keeps a terminal session and its output; run -d -i keeps standard input open', async () => {
    await runD(['-t', '--name', 'tty', images.base, 'sh', '-c', 'tty; echo on-a-tty; sleep 1000']);
    await runD(['-i', '--name', 'reader', images.base, 'sh', '-c', 'echo reading; cat; echo stdin-closed']);
    await waitFor('both printed', async () => (await logs('tty')).includes('on-a-tty') && (await logs('reader')).includes('reading'));
    expect(await logs('tty')).toMatch(/^\/dev\/pts\/\d+\r\non-a-tty\r\n$/);
    // cat blocks on the open standard input: the container keeps running
    await sleep(300);
    expect(await state('reader')).toBe('running');
    expect(await logs('reader')).toBe('reading\n');
    expect(lines((await ok(['stop', '-t', '1', 'tty', 'reader'])).stdout)).toEqual(['tty', 'reader']);
  });

  it('a command that cannot start fails run -d with 127 or 126 and leaves a Created container; -d --rm leaves nothing', async () => {
    const notFound = await ctr(['run', '-d', '--name', 'nf', images.base, 'no-such-command']);
    expect(notFound.code).toBe(127);
    expect(notFound.stderr).toMatch(/no-such-command.*not found/);
    expect(notFound.stdout).toBe('');
    const notExec = await ctr(['run', '-d', '--name', 'ne', images.base, '/etc/passwd']);
    expect(notExec.code).toBe(126);
    expect(notExec.stderr).toMatch(/permission denied/);
    expect((await ok(['ps', '-a', '--format', '{{.Names}} {{.Status}}'])).stdout).toBe('ne Created\nnf Created\n');
    expect((await inspect('nf')).State).toMatchObject({ Status: 'created', ExitCode: 127 });
    const gone = await ctr(['run', '-d', '--rm', images.base, 'no-such-command']);
    expect(gone.code).toBe(127);
    expect(lines((await ok(['ps', '-aq'])).stdout)).toHaveLength(2);
    // the container can be fixed up and started later like any other
    expect((await ctr(['start', 'nf'])).code).toBe(1);
  });

  it('run -d --rm: the container is gone once it exits, and wait still gives its code', async () => {
    const id = await runD(['--rm', '--name', 'once', images.base, 'sh', '-c', 'sleep 0.3; exit 4']);
    expect((await ok(['wait', 'once'])).stdout).toBe('4\n');
    await waitFor('the container is removed', async () => (await ok(['ps', '-aq'])).stdout === '');
    expect(existsSync(join(env.root, 'containers', id))).toBe(false);
    expect(existsSync(runDir(id))).toBe(false);
  });

  it('a detached container that exits is forgotten by the runtime at once (as podman cleans up), and starts and goes as before', async () => {
    // runc keeps a container's state under its --root in a directory named by the id
    const known = (id: string) => existsSync(join(env.runroot, 'runtime', id));
    const id = await runD(['--name', 'brief', images.base, ...SERVICE]);
    expect(known(id)).toBe(true);
    await ok(['stop', 'brief']);
    await waitFor('the exit command deleted the runtime state', async () => !known(id));
    expect(await status('brief')).toMatch(/^Exited \(0\) /);
    await ok(['start', 'brief']);
    expect(known(id)).toBe(true);
    await waitFor('it is up again', async () => (await logs('brief')) === 'up\nup\n');
    await ok(['stop', 'brief']);
    await waitFor('forgotten again after the second run', async () => !known(id));
    await ok(['rm', 'brief']);
    expect((await ok(['ps', '-aq'])).stdout).toBe('');
    expect(existsSync(join(env.runroot, 'locks', id))).toBe(false);
  });

  it('stop: SIGTERM ends a service at once; a process that ignores it is killed after -t (137); the image STOPSIGNAL is used', async () => {
    await runD(['--name', 'svc', images.base, ...SERVICE]);
    await runD(['--name', 'stubborn', images.base, 'sh', '-c', 'trap "" TERM; echo up; sleep 1000']);
    await runD(['--name', 'usr1', stopsig]);
    await waitFor('all are up', async () => (await logs('svc')) === 'up\n' && (await logs('stubborn')) === 'up\n' && (await logs('usr1')) === 'ready\n');
    let t = Date.now();
    expect((await ok(['stop', 'svc'])).stdout).toBe('svc\n');
    expect(Date.now() - t).toBeLessThan(3000);
    t = Date.now();
    expect((await ok(['stop', '-t', '1', 'stubborn'])).stdout).toBe('stubborn\n');
    expect(Date.now() - t).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - t).toBeLessThan(6000);
    expect((await ok(['stop', 'usr1'])).stdout).toBe('usr1\n');
    expect((await ok(['wait', 'svc', 'stubborn', 'usr1'])).stdout).toBe('0\n137\n10\n');
    expect(await status('stubborn')).toMatch(/^Exited \(137\) /);
    // stopping what does not run is not an error; an unknown name is
    expect((await ok(['stop', 'svc'])).stdout).toBe('svc\n');
    const unknown = await ctr(['stop', 'no-such']);
    expect(unknown.code).toBe(1);
    // --stop-signal at create wins over the image's
    await runD(['--name', 'term', '--stop-signal', 'TERM', stopsig]);
    await waitFor('it is up', async () => (await logs('term')) === 'ready\n');
    expect((await ok(['stop', '-t', '1', 'term'])).stdout).toBe('term\n');
    expect((await ok(['wait', 'term'])).stdout).toBe('137\n');
  });

  it('stop -s sends the signal given instead of the stop signal; an unknown signal is refused before anything is stopped', async () => {
    await runD(['--name', 'int', images.base, 'sh', '-c', 'trap "exit 11" INT; trap "" TERM; echo up; sleep 1000 & wait']);
    await waitFor('it is up', async () => (await logs('int')) === 'up\n');
    const bad = await ctr(['stop', '-s', 'NOSUCH', 'int']);
    expect([bad.code, bad.stdout]).toEqual([125, '']);
    expect(bad.stderr).toMatch(/^Error: .*NOSUCH.*\n$/);
    expect(await state('int')).toBe('running');
    const t = Date.now();
    expect((await ok(['stop', '--signal', 'SIGINT', 'int'])).stdout).toBe('int\n');
    expect(Date.now() - t).toBeLessThan(3000);
    expect((await ok(['wait', 'int'])).stdout).toBe('11\n');
  });

  it("inspect's State has docker's fields for a created, running, exited and restarting container", async () => {
    const zero = '0001-01-01T00:00:00Z';
    const time = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
    const base = { Paused: false, OOMKilled: false, Dead: false, Error: '' };
    await ok(['create', '--name', 'st', images.base, ...SERVICE]);
    expect((await inspect('st')).State).toEqual({ ...base, Status: 'created', Running: false, Restarting: false, Pid: 0, ExitCode: 0, StartedAt: zero, FinishedAt: zero });
    await ok(['start', 'st']);
    const running = (await inspect('st')).State;
    expect(running).toEqual({ ...base, Status: 'running', Running: true, Restarting: false, Pid: expect.any(Number), ExitCode: 0, StartedAt: time, FinishedAt: zero });
    expect(alive(running.Pid)).toBe(true);
    await waitFor('it is up', async () => (await logs('st')) === 'up\n');
    await ok(['stop', 'st']);
    expect((await inspect('st')).State).toEqual({ ...base, Status: 'exited', Running: false, Restarting: false, Pid: 0, ExitCode: 0, StartedAt: running.StartedAt, FinishedAt: time });

    // docker counts a container about to be restarted as running, with no process.
    await runD(['--name', 'again', '--restart', 'always', images.base, 'sh', '-c', 'exit 3']);
    let seen: Record<string, unknown> | undefined;
    await waitFor('it is restarting', async () => {
      const s = (await inspect('again')).State as Record<string, unknown>;
      if (s.Status === 'restarting') seen = s;
      return seen !== undefined;
    });
    expect(seen).toEqual({ ...base, Status: 'restarting', Running: true, Restarting: true, Pid: 0, ExitCode: 3, StartedAt: time, FinishedAt: time });
    await ok(['stop', '-t', '0', 'again']);
  });

  it('kill -s, restart (same ID, log goes on), start of several containers, rm -f of a running one', async () => {
    const id = await runD(['--name', 'a', images.base, ...SERVICE]);
    await runD(['--name', 'b', images.base, ...SERVICE]);
    await waitFor('a is up', async () => (await logs('a')) === 'up\n');
    expect((await ok(['kill', '-s', 'TERM', 'a'])).stdout).toBe('a\n');
    expect((await ok(['wait', 'a'])).stdout).toBe('0\n');
    const notRunning = await ctr(['kill', 'a']);
    expect(notRunning.code).toBe(1);
    expect(notRunning.stderr).toMatch(/a is not running/);
    expect((await ok(['kill', 'b'])).stdout).toBe('b\n');
    expect((await ok(['wait', 'b'])).stdout).toBe('137\n');

    expect((await ok(['start', 'a', 'b'])).stdout).toBe('a\nb\n');
    expect((await ok(['ps', '--format', '{{.Names}}'])).stdout.split('\n').sort()).toEqual(['', 'a', 'b']);
    await waitFor('a is up again', async () => (await logs('a')) === 'up\nup\n');
    const before = (await inspect('a')).State.Pid as number;
    expect((await ok(['restart', '-t', '1', 'a'])).stdout).toBe('a\n');
    const after = await inspect('a');
    expect(after.Id).toBe(id);
    expect(after.State.Running).toBe(true);
    expect(after.State.Pid).not.toBe(before);
    expect(alive(before)).toBe(false);
    await waitFor('a is up a third time', async () => (await logs('a')) === 'up\nup\nup\n');

    const refused = await ctr(['rm', 'a']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/a.*running/);
    const pid = after.State.Pid as number;
    expect((await ok(['rm', '-f', 'a', 'b'])).stdout).toBe('a\nb\n');
    expect(alive(pid)).toBe(false);
    expect(await ok(['ps', '-aq'])).toMatchObject({ stdout: '' });
  });

  it('restart policies: on-failure:2 ends after 3 runs; always restarts until stop; start --all --filter restart-policy=always', async () => {
    await runD(['--name', 'flaky', '--restart', 'on-failure:2', images.base, 'sh', '-c', 'echo run; exit 5']);
    await runD(['--name', 'forever', '--restart', 'always', images.base, 'sh', '-c', 'echo run; sleep 0.2']);
    await runD(['--name', 'fine', '--restart', 'on-failure', images.base, 'sh', '-c', 'echo run; exit 0']);
    await waitFor('flaky has given up', async () => (await logs('flaky')) === 'run\nrun\nrun\n' && (await state('flaky')) === 'exited', 20_000);
    await sleep(500);
    expect(await logs('flaky')).toBe('run\nrun\nrun\n');
    const flaky = await inspect('flaky');
    expect([flaky.RestartCount, flaky.State.ExitCode, flaky.HostConfig.RestartPolicy]).toEqual([2, 5, { Name: 'on-failure', MaximumRetryCount: 2 }]);
    expect(await status('flaky')).toMatch(/^Exited \(5\) /);
    expect(await logs('fine')).toBe('run\n');
    expect((await inspect('fine')).RestartCount).toBe(0);

    await waitFor('forever has run three times', async () => lines(await logs('forever')).length >= 3, 20_000);
    expect(['running', 'restarting']).toContain(await state('forever'));
    expect((await ok(['stop', '-t', '1', 'forever'])).stdout).toBe('forever\n');
    const runs = lines(await logs('forever')).length;
    await sleep(1500);
    expect(lines(await logs('forever')).length).toBe(runs);
    expect(await state('forever')).toBe('exited');
    expect((await inspect('forever')).RestartCount).toBeGreaterThanOrEqual(2);

    const started = await ok(['start', '--all', '--filter', 'restart-policy=always']);
    expect(started.stdout).toBe('forever\n');
    expect(['running', 'restarting']).toContain(await state('forever'));
    await ok(['stop', '-t', '0', 'forever']);
    const conflict = await ctr(['run', '-d', '--rm', '--restart', 'always', images.base, 'true']);
    expect(conflict.code).toBe(125);
    expect(conflict.stderr).toMatch(/--restart and --rm/);
    const bad = await ctr(['create', '--restart', 'sometimes', images.base, 'true']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/restart policy "sometimes"/);
  });

  it('truth without a daemon: a killed monitor shows as exited at the next ps; after a reboot (run directory gone) nothing runs', async () => {
    const victim = await runD(['--name', 'victim', images.base, ...SERVICE]);
    const pid = (await inspect('victim')).State.Pid as number;
    process.kill(conmonPid(victim), 'SIGKILL');
    expect(await status('victim')).toMatch(/^Exited \(255\) /);
    expect((await inspect('victim')).State.Error).toMatch(/monitor/);
    await waitFor('its orphaned process is gone', async () => !alive(pid));
    expect((await ok(['ps', '-q'])).stdout).toBe('');

    const ids = [await runD(['--name', 'svc', '--restart', 'always', images.base, ...SERVICE]), await runD(['--name', 'plain', images.base, ...SERVICE])];
    const pids = await Promise.all(['svc', 'plain'].map(async (n) => (await inspect(n)).State.Pid as number));
    // A reboot: every process ends without any exit command running, and the run directory (tmpfs) is empty.
    for (const id of ids) process.kill(conmonPid(id), 'SIGKILL');
    for (const p of pids) process.kill(p, 'SIGKILL');
    await waitFor('the processes are gone', async () => pids.every((p) => !alive(p)) && monitors().length === 0);
    rmSync(env.runroot, { recursive: true, force: true });
    expect((await ok(['ps', '-q'])).stdout).toBe('');
    expect((await ok(['ps', '-a', '--format', '{{.Names}} {{.State}}'])).stdout.split('\n').sort()).toEqual(['', 'plain exited', 'svc exited', 'victim exited']);
    // what a boot-time unit runs
    expect((await ok(['start', '--all', '--filter', 'restart-policy=always'])).stdout).toBe('svc\n');
    expect((await ok(['ps', '--format', '{{.Names}} {{.State}}'])).stdout).toBe('svc running\n');
    await waitFor('svc is up', async () => (await logs('svc')) === 'up\nup\n');
  });

  it('20 run -d in parallel with ps and rm loops: every container is recorded, the index stays whole, no lock errors', async () => {
    for (let i = 0; i < 5; i++) await ok(['create', '--name', `junk${i}`, images.base, 'true']);
    let stop = false;
    const problems: string[] = [];
    const loop = async (args: () => string[]) => {
      while (!stop) {
        const r = await ctr(args());
        if (r.code !== 0 && !/no such container/.test(r.stderr)) problems.push(`${args().join(' ')}: ${r.stderr}`);
        if (/lock/i.test(r.stderr)) problems.push(r.stderr);
      }
    };
    let junk = 0;
    const loops = [loop(() => ['ps', '-a']), loop(() => ['ps', '--format', '{{.Names}} {{.Status}}']), loop(() => ['rm', `junk${junk++ % 5}`])];
    const runs = await Promise.all(Array.from({ length: 20 }, (_, i) => ctr(['run', '-d', '--name', `par${i}`, images.base, ...SERVICE])));
    stop = true;
    await Promise.all(loops);
    expect(problems).toEqual([]);
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const ids = runs.map((r) => r.stdout.trim());
    const index = JSON.parse(readFileSync(join(env.root, 'containers', 'containers.json'), 'utf8')) as { containers: { id: string; state: { status: string } }[] };
    for (const id of ids) expect(index.containers.find((c) => c.id === id)?.state.status).toBe('running');
    expect(lines((await ok(['ps', '-q', '--no-trunc'])).stdout).sort()).toEqual([...ids].sort());
    const removed = await Promise.all([ids.slice(0, 10), ids.slice(10)].map((part) => ctr(['rm', '-f', ...part])));
    for (const r of removed) expect(r.code, r.stderr).toBe(0);
    expect((await ok(['ps', '-a', '--filter', 'name=par'])).stdout.split('\n')).toHaveLength(2);
  });
});
