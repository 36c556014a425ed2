import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actors, CtrEnv } from '../helpers/ctr.js';
import { makeLayer } from '../fixtures/layers.js';
import { busyboxLayer, pushRunImage, usersLayer } from '../fixtures/run-images.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';

// Long store paths used to overflow the overlay mount's options (one page) at ~35 layers.
const EXTRA_LAYERS = 80;
let reg: TestRegistry;
let image: string;

beforeAll(async () => {
  reg = await startRegistry();
  const extra = Array.from({ length: EXTRA_LAYERS }, (_, i) => makeLayer([{ type: 'dir', path: 'layers', mode: 0o755 }, { type: 'file', path: `layers/${i}`, content: `${i}\n`, mode: 0o644 }]));
  await pushRunImage(reg, 'test/many-layers', 'latest', [busyboxLayer(), usersLayer(), ...extra], { Cmd: ['sh'] });
  image = `${reg.host}/test/many-layers:latest`;
}, 120_000);

afterAll(async () => {
  await reg?.stop();
});

describe.each(actors())('an image of many layers as $kind', (actor) => {
  let env: CtrEnv;
  beforeAll(() => {
    env = new CtrEnv(actor);
  });
  afterAll(async () => {
    await env.cleanup();
  });

  it(`runs, with the files of all ${EXTRA_LAYERS + 2} layers and writes in its own layer`, async () => {
    const pulled = await env.ctr(['pull', '-q', image]);
    expect(pulled.code, pulled.stderr).toBe(0);
    // each worker unpacks dozens of layers: nothing such as Node's listener-leak warning on the way
    expect(pulled.stderr).toBe('');
    const r = await env.ctr(['run', '--rm', image, 'sh', '-c', 'ls /layers | wc -l; cat /layers/0 /layers/79; echo new > /layers/0 && cat /layers/0; id -u']);
    expect(r.stderr).toBe('');
    expect([r.code, r.stdout]).toEqual([0, `${EXTRA_LAYERS}\n0\n79\nnew\n0\n`]);
  }, 120_000);
});
