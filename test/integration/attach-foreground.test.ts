import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { actors, asActor, CtrEnv } from '../helpers/ctr.js';
import { exitOf, printed, waitFor } from '../helpers/process.js';
import { drivePty } from '../helpers/pty.js';
import { useRunImages } from '../fixtures/run-registry.js';

const images = useRunImages();

const withoutPings = (out: string) => out.replace(/^got ping\n/gm, '');

/** Waits for a text anywhere in what the child printed on stdout, before or after the wait began. */
function transcript(child: ChildProcess): { until(text: string): Promise<void> } {
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  return { until: (text) => waitFor(`ctr printed ${text}`, () => out.includes(text), 20_000) };
}

describe.each(actors())('ctr attach to a foreground container as $kind', (actor) => {
  let env: CtrEnv;
  beforeAll(async () => {
    env = await CtrEnv.withImages(actor, images.base);
  });
  afterEach(() => env.removeContainers());
  afterAll(async () => {
    await env?.cleanup();
  });

  /** ctr as the actor with a pipe for its standard input (spawnCtr gives it none). */
  const spawnWithInput = (args: string[], wrap: (argv: string[]) => string[] = (a) => a): ChildProcess => {
    const argv = asActor(actor, wrap([...inject('ctrCommand'), ...args]));
    const child = spawn(argv[0]!, argv.slice(1), { env: env.env(), cwd: env.dir, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin!.on('error', () => {});
    return child;
  };
  const status = async (name: string) => (await env.ctr(['ps', '-a', '--filter', `name=^${name}$`, '--format', '{{.Status}}'])).stdout.trim();

  it('passes what an attached client types to a run -i container; both see the output; the detach keys leave it running', async () => {
    const fg = spawnWithInput(['run', '-i', '--name', 'reader', images.base, 'sh', '-c', 'echo ready; while read l; do echo "got $l"; [ "$l" = quit ] && exit 3; done']);
    const fgOut = transcript(fg);
    const fgDone = exitOf(fg);
    await fgOut.until('ready');

    // A client watching only, connected for sure once it shows a line typed after it started.
    const watcher = spawnWithInput(['attach', '--no-stdin', '--sig-proxy=false', 'reader']);
    const watcherOut = transcript(watcher);
    const watcherDone = exitOf(watcher);
    const pinger = setInterval(() => fg.stdin!.write('ping\n'), 100);
    await watcherOut.until('got ping').finally(() => clearInterval(pinger));

    // A second client at the same time, typing: what it sends comes after it connected.
    const first = spawnWithInput(['attach', 'reader']);
    const firstOut = transcript(first);
    const firstDone = exitOf(first);
    first.stdin!.write('from-attach\n');
    await firstOut.until('got from-attach');
    await fgOut.until('got from-attach');
    await watcherOut.until('got from-attach');
    // ctrl-p ctrl-q: the client leaves with 0, the container and the foreground ctr go on.
    first.stdin!.write('\x10\x11');
    const detached = await firstDone;
    expect([detached.code, detached.stderr]).toEqual([0, '']);
    expect(await status('reader')).toMatch(/^Up /);
    fg.stdin!.write('from-terminal\n');
    await fgOut.until('got from-terminal');
    await watcherOut.until('got from-terminal');

    fg.stdin!.write('quit\n');
    const [ran, watched] = await Promise.all([fgDone, watcherDone]);
    expect([ran.code, ran.stderr]).toEqual([3, '']);
    expect(withoutPings(ran.stdout)).toBe('ready\ngot from-attach\ngot from-terminal\ngot quit\n');
    expect(withoutPings(detached.stdout)).toBe('got from-attach\n');
    // The watcher ends with the container's exit code, after all of its output.
    expect([watched.code, withoutPings(watched.stdout), watched.stderr]).toEqual([3, 'got from-attach\ngot from-terminal\ngot quit\n', '']);
    expect(await status('reader')).toMatch(/^Exited \(3\) /);
    // Nothing of the attach socket is left once the run is over.
    const id = (await env.ctr(['inspect', '--format', '{{.Id}}', 'reader'])).stdout.trim();
    expect(existsSync(join(env.runroot, 's', id.slice(0, 12)))).toBe(false);
  });

  it('keeps stdout and stderr apart for a client of a plain foreground container, and ends with its exit code (--rm)', async () => {
    const fg = spawnWithInput(['run', '--rm', '--name', 'plain', images.base, 'sh', '-c', 'while [ ! -e /tmp/go ]; do echo tick; sleep 0.1; done; echo out1; echo err1 >&2; exit 6']);
    const fgDone = exitOf(fg);
    await printed(fg, 'tick');
    const client = spawnWithInput(['attach', 'plain']);
    const clientDone = exitOf(client);
    await printed(client, 'tick');
    expect((await env.ctr(['exec', 'plain', 'touch', '/tmp/go'])).code).toBe(0);
    const r = await clientDone;
    expect(r.code, r.stderr).toBe(6);
    expect(r.stdout).toMatch(/^(tick\n)+out1\n$/);
    expect(r.stderr).toBe('err1\n');
    const ran = await fgDone;
    expect(ran.code, ran.stderr).toBe(6);
    expect(ran.stdout).toMatch(/^(tick\n)+out1\n$/);
    expect(ran.stderr).toBe('err1\n');
    expect(await env.containers()).toEqual([]);
  });

  it('shows a run -t container on the client terminal, at its size, and ends with its exit code (--rm)', async () => {
    const fg = spawnWithInput(['run', '-t', '--rm', '--name', 'term', images.base, 'sh', '-c',
      'echo ready; for i in $(seq 1 100); do s=$(stty size); [ "$s" = "30 100" ] && break; sleep 0.1; done; echo "size=$s"; sleep 0.5; exit 5']);
    const fgDone = exitOf(fg);
    await printed(fg, 'ready');
    const r = drivePty({ argv: asActor(actor, [...inject('ctrCommand'), 'attach', 'term']), env: env.env(), size: [30, 100], steps: [{ expect: 'size=30 100' }], timeout: 20 });
    expect(r.error, r.output).toBeNull();
    expect(r.code, r.output).toBe(5);
    expect(r.after).toEqual(r.before);
    const ran = await fgDone;
    expect(ran.code, ran.stderr).toBe(5);
    expect(ran.stdout).toContain('size=30 100\r\n');
    expect(await env.containers()).toEqual([]);
  });

  it('passes a client’s keys to a run -it container’s terminal, and detaches with ctrl-p ctrl-q', async () => {
    // script gives the foreground ctr a terminal of its own, as a user's shell would.
    const fg = spawnWithInput(['run', '-it', '--name', 'shell', images.base, 'sh'], (argv) => ['script', '-qfec', argv.map((a) => `'${a}'`).join(' '), '/dev/null']);
    const fgOut = transcript(fg);
    const fgDone = exitOf(fg);
    fg.stdin!.write('echo "ready$((1+1))"\r');
    await fgOut.until('ready2');

    const client = spawnWithInput(['attach', 'shell']);
    const clientOut = transcript(client);
    const clientDone = exitOf(client);
    client.stdin!.write('echo "client$((2+3))"\r');
    await clientOut.until('client5');
    await fgOut.until('client5');
    client.stdin!.write('\x10\x11');
    const left = await clientDone;
    expect([left.code, left.stderr]).toEqual([0, '']);
    expect(await status('shell')).toMatch(/^Up /);

    fg.stdin!.write('echo "still$((3+4))"\r');
    await fgOut.until('still7');
    fg.stdin!.write('exit 4\r');
    const ran = await fgDone;
    expect(ran.code, ran.stdout).toBe(4);
    expect(await status('shell')).toMatch(/^Exited \(4\) /);
  });
});
