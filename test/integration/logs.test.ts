import { chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { actors, CtrEnv } from '../helpers/ctr.js';
import { useRunImages } from '../fixtures/run-registry.js';

const images = useRunImages();

const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/;

describe.each(actors())('ctr logs as $kind', (actor) => {
  let env: CtrEnv;
  beforeAll(async () => {
    env = await CtrEnv.withImages(actor, images.base);
  });
  afterAll(async () => {
    await env?.cleanup();
  });
  afterEach(() => env.removeContainers());

  const fullId = async (name: string) => (await env.ctr(['ps', '-aq', '--no-trunc', '--filter', `name=^${name}$`])).stdout.trim();

  it('keeps what a container printed on stdout and stderr apart, in order per stream', async () => {
    const run = await env.ctr(['run', '--name', 'both', images.base, 'sh', '-c', 'echo out1; echo err1 >&2; echo out2; echo err2 >&2; printf "no newline"']);
    expect(run.code, run.stderr).toBe(0);
    const logs = await env.ctr(['logs', 'both']);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toBe('out1\nout2\nno newline');
    expect(logs.stderr).toBe('err1\nerr2\n');
  });

  it('--tail and -n keep the last lines; -t begins each with its RFC 3339 nanosecond time', async () => {
    const run = await env.ctr(['run', '--name', 'tail', images.base, 'sh', '-c', 'for i in 1 2 3 4 5; do echo line$i; done']);
    expect(run.code, run.stderr).toBe(0);
    expect((await env.ctr(['logs', '--tail', '2', 'tail'])).stdout).toBe('line4\nline5\n');
    expect((await env.ctr(['logs', '-n', '1', 'tail'])).stdout).toBe('line5\n');
    expect((await env.ctr(['logs', '--tail', '0', 'tail'])).stdout).toBe('');
    expect((await env.ctr(['logs', '--tail', 'all', 'tail'])).stdout).toBe('line1\nline2\nline3\nline4\nline5\n');
    const stamped = await env.ctr(['logs', '-t', '--tail', '3', 'tail']);
    const lines = stamped.stdout.trim().split('\n');
    expect(lines.map((l) => l.split(' ')[1])).toEqual(['line3', 'line4', 'line5']);
    for (const l of lines) expect(l.split(' ')[0]).toMatch(TIME);
    const times = lines.map((l) => Date.parse(l.split(' ')[0]!));
    expect(Math.abs(times[0]! - Date.now())).toBeLessThan(60_000);
    const bad = await env.ctr(['logs', '--tail', 'lots', 'tail']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/^Error: --tail takes a number of lines or "all", not "lots"\n$/);
  });

  it('--since and --until take RFC 3339 times, Unix seconds and durations', async () => {
    const run = await env.ctr(['run', '--name', 'times', images.base, 'sh', '-c', 'echo early; sleep 1.2; echo late >&2']);
    expect(run.code, run.stderr).toBe(0);
    const all = await env.ctr(['logs', '-t', 'times']);
    const early = all.stdout.trim().split(' ')[0]!;
    const late = all.stderr.trim().split(' ')[0]!;
    expect([early, late]).toEqual([expect.stringMatching(TIME), expect.stringMatching(TIME)]);

    const since = await env.ctr(['logs', '--since', late, 'times']);
    expect([since.stdout, since.stderr]).toEqual(['', 'late\n']);
    const until = await env.ctr(['logs', '--until', early, 'times']);
    expect([until.stdout, until.stderr]).toEqual(['early\n', '']);
    // Unix seconds with a fraction: the same instant as `late`.
    const ns = BigInt(Date.parse(late.slice(0, 19) + 'Z') / 1000) * 1_000_000_000n + BigInt(late.slice(20, 29));
    const unix = `${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`;
    expect((await env.ctr(['logs', '--since', unix, 'times'])).stderr).toBe('late\n');
    expect((await env.ctr(['logs', '--until', unix, 'times'])).stdout).toBe('early\n');
    expect((await env.ctr(['logs', '--since', '10m', 'times'])).stdout).toBe('early\n');
    const future = await env.ctr(['logs', '--since=-1h', 'times']);
    expect([future.code, future.stdout, future.stderr]).toEqual([0, '', '']);
    const bad = await env.ctr(['logs', '--since', 'yesterday', 'times']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/^Error: --since takes a time .* not "yesterday"\n$/);
  });

  it("reads conmon's records: nanosecond times with offsets, partial lines joined", async () => {
    const created = await env.ctr(['create', '--name', 'conmonlog', images.base, 'true']);
    expect(created.code, created.stderr).toBe(0);
    const log = join(env.root, 'containers', await fullId('conmonlog'), 'ctr.log');
    writeFileSync(
      log,
      [
        '2026-11-22T16:41:38.954634560+00:00 stdout P hello ',
        '2026-11-22T16:41:38.954634999+00:00 stdout F world',
        '2026-11-22T18:41:39.000000001+02:00 stderr F two hours east',
        '2026-11-22T16:41:40.5Z stdout F short fraction',
        '',
      ].join('\n'),
    );
    if (actor.kind === 'user') chownSync(log, actor.uid, actor.gid);
    const logs = await env.ctr(['logs', '-t', 'conmonlog']);
    expect(logs.stdout).toBe('2026-11-22T16:41:38.954634560Z hello world\n2026-11-22T16:41:40.500000000Z short fraction\n');
    expect(logs.stderr).toBe('2026-11-22T16:41:39.000000001Z two hours east\n');
    const since = await env.ctr(['logs', '--since', '2026-11-22T16:41:39Z', 'conmonlog']);
    expect([since.stdout, since.stderr]).toEqual(['short fraction\n', 'two hours east\n']);
  });

  it.each([
    ['a foreground container', false],
    ['a detached container', true],
  ])('-f follows new output of %s and ends when it exits', async (_what, detached) => {
    const script = 'echo first; sleep 1.5; echo second; echo third >&2; sleep 0.5; printf unterminated';
    const args = ['run', '--name', 'follow', images.base, 'sh', '-c', script];
    const foreground = detached ? undefined : env.spawnCtr(args);
    if (detached) {
      const run = await env.ctr([...args.slice(0, 1), '-d', ...args.slice(1)]);
      expect(run.code, run.stderr).toBe(0);
    }
    await env.waitForLog('follow', 'first');
    const child = env.spawnCtr(['logs', '-f', 'follow']);
    let out = '';
    let err = '';
    const chunks: { at: number; text: string }[] = [];
    const started = Date.now();
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      chunks.push({ at: Date.now() - started, text: d.toString() });
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    if (foreground && foreground.exitCode === null) await new Promise((resolve) => foreground.on('close', resolve));
    expect(code, err).toBe(0);
    expect(out).toBe('first\nsecond\nunterminated');
    expect(err).toBe('third\n');
    // "first" came at once, "second" only later: it followed rather than read at the end.
    expect(chunks[0]!.text).toBe('first\n');
    expect(chunks.at(-1)!.at - chunks[0]!.at).toBeGreaterThan(500);
  });

  it('-f on a container that does not run prints what there is and ends', async () => {
    const run = await env.ctr(['run', '--name', 'done', images.base, 'echo', 'over']);
    expect(run.code).toBe(0);
    const logs = await env.ctr(['logs', '-f', 'done'], { timeoutMs: 10_000 });
    expect([logs.code, logs.stdout]).toEqual([0, 'over\n']);
  });

  it('names a container that does not exist in one sentence, exit 125', async () => {
    const logs = await env.ctr(['logs', 'nothing-here']);
    expect(logs.code).toBe(125);
    expect(logs.stderr).toBe('Error: no such container: nothing-here\n');
  });
});
