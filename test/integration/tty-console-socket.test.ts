import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { isatty } from 'node:tty';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CtrError } from '../../src/errors.js';
import { consoleNative } from '../../src/native/console.js';
import { checkTerminalInput, createConsoleSocket } from '../../src/runtime/tty.js';

// Plays the OCI runtime's part: connects to the console socket and sends what it is told to.
const PEER = String.raw`
import os, socket, sys
path, what = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
if what == 'pty':
    master, slave = os.openpty()
    socket.send_fds(s, [os.ttyname(slave).encode()], [master])
elif what == 'pipe':
    r, w = os.pipe()
    socket.send_fds(s, [b'pipe'], [r])
else:
    s.send(b'no fd here')
s.close()
`;

function peer(path: string, what: 'pty' | 'pipe' | 'nothing'): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', PEER, path, what], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', resolve);
  });
}

describe('console socket', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ctr-console-test-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('receives the terminal the runtime sends, close-on-exec, and removes the socket', async () => {
    const socket = await createConsoleSocket(dir);
    expect(existsSync(socket.path)).toBe(true);
    expect(await peer(socket.path, 'pty')).toBe(0);
    const fd = await socket.master;
    try {
      expect(isatty(fd)).toBe(true);
      const flags = Number.parseInt(/^flags:\s*(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8);
      expect(flags & 0o2000000).toBe(0o2000000);
      expect(existsSync(socket.path)).toBe(false);
      consoleNative().setWindowSize(fd, 33, 77);
      expect(consoleNative().getWindowSize(fd)).toEqual({ rows: 33, cols: 77 });
    } finally {
      closeSync(fd);
      socket.close();
    }
  });

  it('rejects a message without a terminal, naming the socket', async () => {
    const none = await createConsoleSocket(dir);
    await peer(none.path, 'nothing');
    await expect(none.master).rejects.toThrow(`receive terminal from console socket ${none.path}`);
    const pipe = await createConsoleSocket(dir);
    await peer(pipe.path, 'pipe');
    await expect(pipe.master).rejects.toThrow(/Inappropriate ioctl for device/);
  });

  it('stops waiting when closed before the runtime connects', async () => {
    const socket = await createConsoleSocket(dir);
    socket.close();
    await expect(socket.master).rejects.toThrow(`the console socket ${socket.path} was closed before the OCI runtime sent the terminal`);
    expect(existsSync(socket.path)).toBe(false);
    socket.close();
  });

  it('refuses a socket path longer than a unix socket allows, saying what to change', async () => {
    const deep = join(dir, 'd'.repeat(100));
    mkdirSync(deep);
    await expect(createConsoleSocket(deep)).rejects.toThrow(/longer than the 107 bytes a unix socket allows: use a shorter run directory/);
  });
});

describe('terminal input check', () => {
  it('refuses -i -t without a terminal on stdin, with docker message and exit code', () => {
    const pipe = new PassThrough();
    let caught: unknown;
    try {
      checkTerminalInput({ interactive: true, tty: true, stdin: () => pipe });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CtrError);
    expect((caught as CtrError).message).toBe('the input device is not a TTY');
    expect((caught as CtrError).exitCode).toBe(1);
    // Without both flags standard input is not even opened.
    const unopened = () => {
      throw new Error('stdin was opened');
    };
    expect(() => checkTerminalInput({ interactive: false, tty: true, stdin: unopened })).not.toThrow();
    expect(() => checkTerminalInput({ interactive: true, tty: false, stdin: unopened })).not.toThrow();
  });
});
