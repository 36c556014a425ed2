import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { actors, CtrEnv } from '../helpers/ctr.js';
import { useRunImages } from '../fixtures/run-registry.js';

const images = useRunImages();

describe.each(actors())('ctr top, port and rename as $kind', (actor) => {
  let env: CtrEnv;
  beforeAll(async () => {
    env = await CtrEnv.withImages(actor, images.base);
  });
  afterAll(async () => {
    await env?.cleanup();
  });
  afterEach(() => env.removeContainers());

  it.each([
    ['a detached container', true],
    ['a foreground container', false],
  ])("top lists the processes of %s and nothing else, in ps's columns", async (_what, detached) => {
    const script = 'sleep 37 & sleep 38 & echo up; wait';
    const foreground = detached ? undefined : env.spawnCtr(['run', '--name', 'busy', images.base, 'sh', '-c', script]);
    if (detached) expect((await env.ctr(['run', '-d', '--name', 'busy', images.base, 'sh', '-c', script])).code).toBe(0);
    await env.waitForLog('busy', 'up');

    const top = await env.ctr(['top', 'busy']);
    expect(top.code, top.stderr).toBe(0);
    const [header, ...rows] = top.stdout.trimEnd().split('\n');
    expect(header!.split(/\s+/)).toEqual(['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
    // docker's layout: columns at least 20 wide.
    expect(header!.indexOf('PID')).toBe(20);
    const commands = rows.map((r) => r.split(/\s{3,}/).at(-1)).sort();
    expect(commands).toEqual(['sh -c sleep 37 & sleep 38 & echo up; wait', 'sleep 37', 'sleep 38']);
    // Every row is a process of the container's pid namespace, i.e. not a host process.
    const pids = rows.map((r) => r.split(/\s+/)[1]);
    expect(pids).not.toContain(String(process.pid));

    const custom = await env.ctr(['top', 'busy', '-o', 'pid,args']);
    expect(custom.code, custom.stderr).toBe(0);
    const lines = custom.stdout.trimEnd().split('\n');
    expect(lines[0]!.split(/\s+/)).toEqual(['PID', 'COMMAND']);
    expect(lines.slice(1).map((l) => l.split(/\s{3,}/)[1]).sort()).toEqual(commands);

    const bad = await env.ctr(['top', 'busy', '--no-such-ps-option']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/^Error: ps --no-such-ps-option failed: .*\n$/);
    if (foreground) {
      const closed = new Promise((resolve) => foreground.on('close', resolve));
      expect((await env.ctr(['rm', '-f', 'busy'])).code).toBe(0);
      await closed;
    }
  });

  it('top of a container that does not run says so, exit 125', async () => {
    expect((await env.ctr(['create', '--name', 'idle', images.base, 'true'])).code).toBe(0);
    const top = await env.ctr(['top', 'idle']);
    expect([top.code, top.stdout, top.stderr]).toEqual([125, '', 'Error: container idle is not running\n']);
    const none = await env.ctr(['top', 'ghost']);
    expect([none.code, none.stderr]).toEqual([125, 'Error: no such container: ghost\n']);
  });

  it('port prints nothing for a container without published ports and names a port that is not published', async () => {
    expect((await env.ctr(['run', '-d', '--name', 'web', images.base, 'sleep', '30'])).code).toBe(0);
    const all = await env.ctr(['port', 'web']);
    expect([all.code, all.stdout, all.stderr]).toEqual([0, '', '']);
    const one = await env.ctr(['port', 'web', '80']);
    expect([one.code, one.stdout, one.stderr]).toEqual([125, '', "Error: No public port '80/tcp' published for web\n"]);
    const udp = await env.ctr(['port', 'web', '53/udp']);
    expect(udp.stderr).toBe("Error: No public port '53/udp' published for web\n");
    const bad = await env.ctr(['port', 'web', 'http']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/^Error: invalid port "http": .*\n$/);
  });

  it('rename gives a running container a new name that every command then uses; the old name is free', async () => {
    expect((await env.ctr(['run', '-d', '--name', 'old', images.base, 'sh', '-c', 'echo up; exec sleep 30'])).code).toBe(0);
    await env.waitForLog('old', 'up');
    const renamed = await env.ctr(['rename', 'old', 'new']);
    expect([renamed.code, renamed.stdout, renamed.stderr]).toEqual([0, '', '']);
    const names = await env.ctr(['ps', '--format', '{{.Names}} {{.Status}}']);
    expect(names.stdout).toMatch(/^new Up /);
    expect((await env.ctr(['logs', 'new'])).stdout).toBe('up\n');
    expect((await env.ctr(['top', 'new'])).stdout).toContain('sleep 30');
    const gone = await env.ctr(['logs', 'old']);
    expect([gone.code, gone.stderr]).toEqual([125, 'Error: no such container: old\n']);
    // The old name can be taken by another container at once.
    const again = await env.ctr(['create', '--name', 'old', images.base, 'echo', 'second']);
    expect(again.code, again.stderr).toBe(0);

    const taken = await env.ctr(['rename', 'new', 'old']);
    expect(taken.code).toBe(125);
    expect(taken.stderr).toMatch(/^Error: the container name "old" is already in use by container [0-9a-f]{12}; .*\n$/);
    const invalid = await env.ctr(['rename', 'new', 'no/slash']);
    expect([invalid.code, invalid.stderr]).toEqual([125, 'Error: invalid container name "no/slash": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed\n']);
    const same = await env.ctr(['rename', 'new', 'new']);
    expect(same.code).toBe(125);
    const missing = await env.ctr(['rename', 'ghost', 'other']);
    expect([missing.code, missing.stderr]).toEqual([125, 'Error: no such container: ghost\n']);

    // A stopped container renamed starts under its new name.
    expect((await env.ctr(['rename', 'old', 'later'])).code).toBe(0);
    const started = await env.ctr(['start', '-a', 'later']);
    expect([started.code, started.stdout]).toEqual([0, 'second\n']);
  });
});
