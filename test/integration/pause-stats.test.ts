import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { actors, CtrEnv } from '../helpers/ctr.js';
import { useRunImages } from '../fixtures/run-registry.js';

const images = useRunImages();

// Counts as fast as a shell can, writing each number to /tmp/n (read back from the upper layer on the host).
const COUNTER = 'i=0; while :; do i=$((i+1)); echo $i > /tmp/n.new; mv /tmp/n.new /tmp/n; sleep 0.02; done';
const HEADER = ['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'BLOCK I/O', 'PIDS'];

describe.each(actors())('ctr pause, unpause and stats as $kind', (actor) => {
  let env: CtrEnv;
  beforeAll(async () => {
    env = await CtrEnv.withImages(actor, images.base);
  });
  afterEach(() => env.removeContainers());
  afterAll(async () => {
    await env?.cleanup();
  });

  const runDetached = async (args: string[]): Promise<string> => {
    const r = await env.ctr(['run', '-d', ...args]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.trim();
  };
  const status = async (name: string) => (await env.ctr(['ps', '-a', '--filter', `name=^${name}$`, '--format', '{{.Status}}'])).stdout.trim();
  const inspectState = async (name: string) => JSON.parse((await env.ctr(['inspect', name])).stdout)[0].State as { Status: string; Paused: boolean };

  if (actor.kind === 'root') {
    it('pause freezes every process of the container, ps and inspect show it, unpause lets it go on', async () => {
      const id = await runDetached(['--name', 'counter', images.base, 'sh', '-c', COUNTER]);
      // The counter's file as the host sees it, in the container's upper layer.
      const counterFile = join(env.root, 'containers', id, 'upper/tmp/n');
      const count = () => Number(readFileSync(counterFile, 'utf8'));
      for (let i = 0; i < 100; i++) {
        try {
          if (count() > 0) break;
        } catch {
          // not written yet
        }
        await sleep(50);
      }
      const paused = await env.ctr(['pause', 'counter']);
      expect([paused.code, paused.stdout, paused.stderr]).toEqual([0, 'counter\n', '']);
      const frozenAt = count();
      await sleep(500);
      expect(count()).toBe(frozenAt);
      expect(await status('counter')).toMatch(/^Up .* \(Paused\)$/);
      expect(await inspectState('counter')).toMatchObject({ Status: 'paused', Paused: true });

      const again = await env.ctr(['pause', 'counter']);
      expect([again.code, again.stderr]).toEqual([1, 'Error: container counter is already paused\n']);
      const exec = await env.ctr(['exec', 'counter', 'true']);
      expect([exec.code, exec.stderr]).toEqual([125, 'Error: container counter is paused: unpause it first (ctr unpause counter)\n']);

      const unpaused = await env.ctr(['unpause', 'counter']);
      expect([unpaused.code, unpaused.stdout, unpaused.stderr]).toEqual([0, 'counter\n', '']);
      await sleep(500);
      expect(count()).toBeGreaterThan(frozenAt);
      expect(await status('counter')).toMatch(/^Up (?!.*Paused)/);
      expect(await inspectState('counter')).toMatchObject({ Status: 'running', Paused: false });
      const notPaused = await env.ctr(['unpause', 'counter']);
      expect([notPaused.code, notPaused.stderr]).toEqual([1, 'Error: container counter is not paused\n']);
    });

    it('stop, kill and rm -f reach a paused container (unpaused once signalled); inspect shows it paused and still running', async () => {
      const service = ['sh', '-c', 'trap "exit 0" TERM; echo up; sleep 1000 & wait'];
      await runDetached(['--name', 'svc', images.base, ...service]);
      expect((await env.ctr(['pause', 'svc'])).code).toBe(0);
      const state = JSON.parse((await env.ctr(['inspect', 'svc'])).stdout)[0].State as Record<string, unknown>;
      expect(state).toEqual({
        Status: 'paused',
        Running: true,
        Paused: true,
        Restarting: false,
        OOMKilled: false,
        Dead: false,
        Pid: expect.any(Number),
        ExitCode: 0,
        Error: '',
        StartedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        FinishedAt: '0001-01-01T00:00:00Z',
      });
      expect(state.Pid).toBeGreaterThan(0);
      const start = Date.now();
      const stopped = await env.ctr(['stop', 'svc']);
      expect([stopped.code, stopped.stdout, stopped.stderr]).toEqual([0, 'svc\n', '']);
      expect(Date.now() - start).toBeLessThan(5000);
      expect((await env.ctr(['wait', 'svc'])).stdout).toBe('0\n');
      expect(await status('svc')).toMatch(/^Exited \(0\) /);

      await runDetached(['--name', 'killed', images.base, ...service]);
      expect((await env.ctr(['pause', 'killed'])).code).toBe(0);
      expect((await env.ctr(['kill', 'killed'])).code).toBe(0);
      expect((await env.ctr(['wait', 'killed'])).stdout).toBe('137\n');

      await runDetached(['--name', 'removed', images.base, ...service]);
      expect((await env.ctr(['pause', 'removed'])).code).toBe(0);
      const pid = (JSON.parse((await env.ctr(['inspect', 'removed'])).stdout)[0].State as { Pid: number }).Pid;
      const removed = await env.ctr(['rm', '-f', 'removed']);
      expect([removed.code, removed.stdout, removed.stderr]).toEqual([0, 'removed\n', '']);
      let gone = false;
      for (let i = 0; i < 100 && !gone; i++) {
        try {
          gone = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
        } catch {
          gone = true;
        }
        if (!gone) await sleep(50);
      }
      expect(gone).toBe(true);
    });
  } else {
    it('pause says in one sentence why a rootless container cannot be frozen here, and leaves it running', async () => {
      await runDetached(['--name', 'counter', images.base, 'sh', '-c', COUNTER]);
      const r = await env.ctr(['pause', 'counter']);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^Error: cannot pause container counter: pausing needs the cgroup freezer, .*; run the container as root to pause it\n$/);
      expect(await status('counter')).toMatch(/^Up (?!.*Paused)/);
      const unpause = await env.ctr(['unpause', 'counter']);
      expect([unpause.code, unpause.stderr]).toEqual([1, 'Error: container counter is not paused\n']);
    });
  }

  it('pause and unpause of a missing or stopped container fail with exit code 1, as docker does, and go on to the others', async () => {
    for (const verb of ['pause', 'unpause']) {
      const missing = await env.ctr([verb, 'nosuch']);
      expect([missing.code, missing.stdout, missing.stderr]).toEqual([1, '', 'Error: no such container: nosuch\n']);
    }
    expect((await env.ctr(['create', '--name', 'idle', images.base, 'true'])).code).toBe(0);
    const several = await env.ctr(['pause', 'nosuch', 'idle']);
    expect([several.code, several.stdout, several.stderr]).toEqual([1, '', 'Error: no such container: nosuch\nError: container idle is not running\n']);
    const unpause = await env.ctr(['unpause', 'idle']);
    expect([unpause.code, unpause.stderr]).toEqual([1, 'Error: container idle is not running\n']);
  });

  it("stats --no-stream shows docker's columns, with the CPU a busy container uses and its processes", async () => {
    const id = await runDetached(['--name', 'busy', images.base, 'sh', '-c', 'while :; do :; done']);
    await runDetached(['--name', 'idle', images.base, 'sh', '-c', 'sleep 1000 & sleep 1000 & wait']);
    const r = await env.ctr(['stats', '--no-stream', 'busy', 'idle']);
    expect(r.code, r.stderr).toBe(0);
    const [header, ...rows] = r.stdout.trimEnd().split('\n');
    expect(header!.split(/ {2,}/)).toEqual(HEADER);
    expect(rows).toHaveLength(2);
    const cells = rows.map((row) => row.split(/ {2,}/));
    expect(cells[0]![0]).toBe(id.slice(0, 12));
    expect(cells.map((c) => c[1])).toEqual(['busy', 'idle']);
    for (const c of cells) {
      expect(c[2]).toMatch(/^\d+\.\d\d%$/);
      expect(c[3]).toMatch(/^\d+(\.\d+)?[KMG]?i?B \/ \d+(\.\d+)?[KMGT]?i?B$/);
      expect(c[4]).toMatch(/^\d+\.\d\d%$/);
      expect(c[5]).toMatch(/^\d+(\.\d+)?k?B \/ \d+(\.\d+)?k?B$/);
      expect(c[6]).toMatch(/^\d+(\.\d+)?[kMG]?B \/ \d+(\.\d+)?[kMG]?B$/);
    }
    // A spinning shell gets a good share of a CPU (less on a machine busy with other work); the sleeper none.
    expect(Number.parseFloat(cells[0]![2]!)).toBeGreaterThan(5);
    expect(Number.parseFloat(cells[1]![2]!)).toBeLessThan(2);
    expect(cells.map((c) => c[7])).toEqual(['1', '3']);

    const formatted = await env.ctr(['stats', '--no-stream', '--no-trunc', '--format', '{{.ID}} {{.Name}} {{.PIDs}}', 'busy']);
    expect(formatted.stdout).toBe(`${id} busy 1\n`);
    const all = await env.ctr(['stats', '--no-stream', '--format', '{{.Name}}']);
    expect(all.stdout.split('\n').filter(Boolean).sort()).toEqual(['busy', 'idle']);
    const json = JSON.parse((await env.ctr(['stats', '--no-stream', '--format', 'json', 'idle'])).stdout) as Record<string, string>;
    expect(Object.keys(json).sort()).toEqual(['BlockIO', 'CPUPerc', 'Container', 'ID', 'MemPerc', 'MemUsage', 'Name', 'NetIO', 'PIDs']);

    await env.ctr(['rm', '-f', 'idle']);
    const missing = await env.ctr(['stats', '--no-stream', 'idle']);
    expect([missing.code, missing.stderr]).toEqual([125, 'Error: no such container: idle\n']);
  });
});
