import { describe, expect, it } from 'vitest';
import { containerConfig } from '../../src/engine/containers.js';
import type { ContainerRecord } from '../../src/store/containers.js';

const record = (config: Record<string, unknown>, labels: Record<string, string> = {}): ContainerRecord => ({
  id: 'a'.repeat(64),
  name: 'c',
  image: 'sha256:' + 'b'.repeat(64),
  imageName: 'img',
  created: '2025-01-01T00:00:00Z',
  config: { env: [], stopSignal: 'SIGTERM', ...config },
  mounts: [],
  labels,
  state: { status: 'exited' },
});

const IMAGE = { Env: ['PATH=/bin', 'MODE=image'], Entrypoint: ['/entry'], Cmd: ['default'], WorkingDir: '/w', User: 'app', Labels: { from: 'image' }, StopSignal: 'SIGINT' };

describe("the container's config, as commit copies it into the image", () => {
  it("puts the run's options over the image's, in docker's order; a bare -e NAME removes NAME", () => {
    const own = containerConfig(IMAGE, record({ env: ['MODE=run', 'NEW=1', 'PATH'], workdir: '/x', user: '1000', entrypoint: ['e'], cmd: ['a', 'b'], volumes: ['/v'], stopSignal: 'SIGUSR1' }, { k: 'v' }));
    expect(own).toEqual({
      Env: ['MODE=run', 'NEW=1'],
      Entrypoint: ['e'],
      Cmd: ['a', 'b'],
      WorkingDir: '/x',
      User: '1000',
      Labels: { from: 'image', k: 'v' },
      Volumes: { '/v': {} },
      StopSignal: 'SIGUSR1',
    });
  });

  it("keeps the image's config where the run said nothing, and clears what --entrypoint '' cleared", () => {
    expect(containerConfig(IMAGE, record({ entrypoint: ['/entry'], cmd: ['default'], stopSignal: 'SIGINT' }))).toEqual(IMAGE);
    expect(containerConfig(IMAGE, record({ entrypoint: [], cmd: ['sh'] }))).toMatchObject({ Entrypoint: null, Cmd: ['sh'] });
  });

  it('splits the command line of records made before entrypoint and cmd were kept', () => {
    expect(containerConfig(IMAGE, record({ command: ['/entry', 'x'] }))).toMatchObject({ Entrypoint: ['/entry'], Cmd: ['x'] });
    expect(containerConfig(IMAGE, record({ command: ['other', 'y'] }))).toMatchObject({ Entrypoint: ['other'], Cmd: ['y'] });
    expect(containerConfig({ Cmd: ['sh'] }, record({ command: ['ls', '-l'] }))).toEqual({ Cmd: ['ls', '-l'] });
  });
});
