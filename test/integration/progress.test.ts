import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { actors, asActor, CtrEnv } from '../helpers/ctr.js';
import { drivePty } from '../helpers/pty.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { busyboxLayer, pushRunImage, usersLayer } from '../fixtures/run-images.js';

let source: TestRegistry;
let other: TestRegistry;
let image: string;

beforeAll(async () => {
  [source, other] = await Promise.all([startRegistry(), startRegistry()]);
  await pushRunImage(source, 'test/progress', '1', [busyboxLayer(), usersLayer()], { Cmd: ['sh'] });
  image = `${source.host}/test/progress:1`;
}, 60_000);

afterAll(async () => {
  await Promise.all([source, other].map((r) => r?.stop()));
});

// Every line drawn: a terminal redraws the layers' lines in place (ESC [ nA, ESC [ 2K).
function drawnLines(output: string): string[] {
  return output
    .split(/\r?\n|\x1b\[2K/)
    .map((l) => l.replace(/\x1b\[\d*[A-Za-z]/g, '').trim())
    .filter(Boolean);
}

describe.each(actors())('progress displays as $kind', (actor) => {
  let env: CtrEnv;
  beforeAll(() => {
    env = new CtrEnv(actor);
  });
  afterAll(async () => {
    await env.cleanup();
  });
  const onTerminal = (args: string[]) => drivePty({ argv: asActor(actor, [...inject('ctrCommand'), ...args]), env: env.env(), steps: [], size: [24, 100] });

  it('pull and push draw a line per layer on a terminal, and plain lines when piped', async () => {
    const pulled = onTerminal(['pull', image]);
    expect([pulled.error, pulled.code]).toEqual([null, 0]);
    const pullLines = drawnLines(pulled.output);
    expect(pullLines[0]).toBe(`Trying to pull ${image}...`);
    expect(new Set(pullLines.filter((l) => /^[0-9a-f]{12}: Pull complete \d/.test(l))).size).toBe(2);
    expect(pullLines).toContain('Writing manifest to image destination');

    const target = `${other.host}/test/progress-${actor.kind}:1`;
    const pushed = onTerminal(['push', image, target]);
    expect([pushed.error, pushed.code]).toEqual([null, 0]);
    const pushLines = drawnLines(pushed.output);
    expect(pushLines[0]).toBe(`The push refers to repository [${other.host}/test/progress-${actor.kind}]`);
    expect(new Set(pushLines.filter((l) => /^[0-9a-f]{12}: Pushed$/.test(l))).size).toBe(2);

    const again = await env.ctr(['push', image, target]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/\x1b/);
    expect(again.stderr.split('\n').filter((l) => /^Copying blob [0-9a-f]{12} skipped: already exists$/.test(l))).toHaveLength(2);
  }, 120_000);
});
