import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExecutable } from '../../src/runtime/idmap.js';
import { copyRuntime, withRuntimeCopy } from '../../src/runtime/oci.js';
import { startProcess } from '../../src/runtime/process.js';

function collect(stream: Readable | null): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    stream!.on('data', (d: Buffer) => (out += d.toString()));
    stream!.on('end', () => resolve(out));
    stream!.on('error', reject);
  });
}

function children(): number[] {
  const text = readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim();
  return text ? text.split(' ').map(Number) : [];
}

// The foreground runtime is started from the addon (src/native/spawn.c), not by Node's spawn.
describe('startProcess', () => {
  it('runs argv with the environment given, its output and exit code back to ctr', async () => {
    const p = startProcess(['/bin/sh', '-c', 'echo "out $A"; echo err >&2; exit 7', 'sh'], { stdio: ['ignore', 'pipe', 'pipe'], env: { A: 'one' } });
    const [out, err, code] = await Promise.all([collect(p.stdout), collect(p.stderr), p.exited]);
    expect([out, err, code]).toEqual(['out one\n', 'err\n', 7]);
    expect(p.exitCode).toBe(7);
  });

  it('passes input through a pipe, binary-safe, and /dev/null for ignored streams', async () => {
    const p = startProcess(['/bin/sh', '-c', 'od -An -tx1 | tr -s " \\n" " "; cat /dev/stdin >&2'], { stdio: ['pipe', 'pipe', 'ignore'] });
    const out = collect(p.stdout);
    p.stdin!.end(Buffer.from([0, 255, 10, 13]));
    expect((await out).trim()).toBe('00 ff 0a 0d');
    expect(await p.exited).toBe(0);
  });

  it('starts the program with no signal blocked or ignored (ctr itself ignores SIGPIPE)', async () => {
    const p = startProcess(['/bin/grep', '-E', '^Sig(Blk|Ign)', '/proc/self/status'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const out = await collect(p.stdout);
    await p.exited;
    expect(out.trim().split('\n').map((l) => l.split(/\s+/)[1])).toEqual(['0000000000000000', '0000000000000000']);
  });

  it('gives a descriptor of ctr to the child at its index, and nothing else of ctr', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctr-start-test-'));
    try {
      writeFileSync(join(dir, 'f'), 'passed\n');
      const fd = openSync(join(dir, 'f'), 'r');
      const p = startProcess(['/bin/sh', '-c', 'cat <&3; ls /proc/self/fd'], { stdio: ['ignore', 'pipe', 'ignore', fd] });
      const out = await collect(p.stdout);
      closeSync(fd);
      await p.exited;
      const [first, ...fds] = out.trim().split('\n');
      expect(first).toBe('passed');
      // 0-3, and 4: the one ls opened to list them. Not what ctr's parent left open to ctr.
      expect(fds.map(Number)).toEqual([0, 1, 2, 3, 4]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads output on the addon's thread: every byte in order, then its end, and the stream getter then gives none", async () => {
    // 3 MB of every byte value, more than a pipe holds: the writer waits for the reader.
    const dir = mkdtempSync(join(tmpdir(), 'ctr-start-test-'));
    try {
      const block = Buffer.alloc(262144);
      for (let i = 0; i < block.length; i++) block[i] = (i * 7 + (i >> 8)) & 0xff;
      writeFileSync(join(dir, 'block'), block);
      const p = startProcess(['/bin/sh', '-c', 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do cat "$0"; done', join(dir, 'block')], { stdio: ['ignore', 'pipe', 'ignore'] });
      const chunks: Buffer[] = [];
      let ends = 0;
      const read = new Promise<void>((resolve, reject) =>
        p.readOutput!(1, (err, chunk) => {
          if (err) return reject(err);
          if (chunk === null) {
            ends++;
            return resolve();
          }
          chunks.push(chunk);
        }),
      );
      expect(p.stdout).toBeNull();
      expect(() => p.readOutput!(1, () => {})).toThrow(/read as a stream already/);
      await read;
      expect(await p.exited).toBe(0);
      expect(Buffer.concat(chunks).equals(Buffer.concat(Array.from({ length: 12 }, () => block)))).toBe(true);
      expect(chunks.length).toBeGreaterThan(1);
      expect(ends).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('cancels reading output: the pipe is closed, and the writer gets EPIPE as with a reader gone', async () => {
    const p = startProcess(['/bin/sh', '-c', 'trap "" PIPE; while :; do echo line || { echo "stopped: $?" >&2; exit 0; }; done'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const err = collect(p.stderr);
    let lines = 0;
    const last = await new Promise<Error | null>((resolve) => {
      const reader = p.readOutput!(1, (e, chunk) => {
        if (e || chunk === null) return resolve(e);
        lines += chunk.toString().split('\n').length - 1;
        if (lines >= 10) reader.cancel();
      });
    });
    expect((last as NodeJS.ErrnoException | null)?.code).toBe('ECANCELED');
    expect(await p.exited).toBe(0);
    // Its echo failed (the shell says how: EPIPE), which ended its loop.
    expect((await err).trim().split('\n').at(-1)).toMatch(/^stopped: [1-9]/);
  });

  it('reports a program ended by a signal as 128+N, and kill() sends signals', async () => {
    const p = startProcess(['/bin/sleep', '30'], { stdio: ['ignore', 'ignore', 'ignore'] });
    p.kill('SIGKILL');
    expect(await p.exited).toBe(137);
    p.kill('SIGTERM'); // once it has ended: nothing to signal, no error
  });

  it('throws the reason when the program cannot be executed, and leaves no child behind', () => {
    const before = children();
    let error: NodeJS.ErrnoException | undefined;
    try {
      startProcess(['/nonexistent/runtime', 'run'], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      error = err as NodeJS.ErrnoException;
    }
    expect(error?.code).toBe('ENOENT');
    expect(error?.message).toBe('execute /nonexistent/runtime: No such file or directory');
    expect(children()).toEqual(before);
  });
});

describe('copyRuntime', () => {
  let dir: string;
  const runc = findExecutable('runc');
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ctr-copy-test-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.runIf(runc)('makes a sealed copy of runc that nothing can change and that runs as runc', async () => {
    const copy = await copyRuntime({ name: 'runc', path: runc! });
    expect(copy).toBeDefined();
    try {
      const mine = `/proc/self/fd/${copy!.fd}`;
      expect(readFileSync(mine).equals(readFileSync(runc!))).toBe(true);
      const rw = openSync(mine, 'r+');
      try {
        expect(() => writeSync(rw, 'x', 0)).toThrow(expect.objectContaining({ code: 'EPERM' }));
      } finally {
        closeSync(rw);
      }
      // runc and crun skip their own copy only with exactly these seals (F_GET_SEALS: SEAL|SHRINK|GROW|WRITE).
      const seals = execFileSync('python3', ['-c', 'import fcntl,sys; print(fcntl.fcntl(3, fcntl.F_GET_SEALS))'], { stdio: ['ignore', 'pipe', 'inherit', copy!.fd] as never });
      expect(Number(seals.toString())).toBe(0x1 | 0x2 | 0x4 | 0x8);
      const p = startProcess([copy!.path, '--version'], { stdio: withRuntimeCopy<'ignore' | 'pipe'>(['ignore', 'pipe', 'pipe'], copy!) });
      const [out, code] = await Promise.all([collect(p.stdout), p.exited]);
      expect(code).toBe(0);
      expect(out).toMatch(/^runc version /);
    } finally {
      copy!.close();
    }
  });

  it('copies only runc and crun, and only programs', async () => {
    expect(await copyRuntime({ name: 'sh', path: '/bin/sh' })).toBeUndefined();
    const script = join(dir, 'runc');
    writeFileSync(script, '#!/bin/sh\nexit 0\n');
    chmodSync(script, 0o755);
    expect(await copyRuntime({ name: 'runc', path: script })).toBeUndefined();
    const missing = join(dir, 'crun');
    expect(existsSync(missing)).toBe(false);
    expect(await copyRuntime({ name: 'crun', path: missing })).toBeUndefined();
    const link = join(dir, 'bin', 'runc');
    execFileSync('mkdir', ['-p', join(dir, 'bin')]);
    symlinkSync('/bin/true', link);
    const copy = await copyRuntime({ name: 'runc', path: link });
    expect(copy?.source).toBe(link);
    copy?.close();
  });
});
