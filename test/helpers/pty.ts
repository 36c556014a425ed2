import { execFileSync } from 'node:child_process';

// Drives a command on a fresh pseudo-terminal: types text, waits for expected output, resizes,
// signals, and reports the exit code, the transcript and the terminal's modes.
const DRIVER = String.raw`
import fcntl, json, os, pty, select, signal, struct, subprocess, sys, termios, time
cfg = json.loads(sys.argv[1])
deadline = time.time() + cfg.get('timeout', 60)
master, slave = pty.openpty()
def winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
winsize(slave, *cfg['size'])
before = termios.tcgetattr(slave)
proc = subprocess.Popen(cfg['argv'], stdin=slave, stdout=slave, stderr=slave, env=cfg['env'], start_new_session=True,
                        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
out = b''
seen = 0
result = {'modes': [], 'error': None}
def pump(timeout):
    global out
    if select.select([master], [], [], timeout)[0]:
        try:
            data = os.read(master, 65536)
        except OSError:
            return False
        out += data
        return len(data) > 0
    return False
try:
    for step in cfg['steps']:
        if 'expect' in step:
            want = step['expect'].encode()
            while want not in out[seen:]:
                if time.time() > deadline:
                    raise Exception('timed out waiting for %r' % step['expect'])
                pump(0.1)
            seen = out.index(want, seen) + len(want)
        elif 'send' in step:
            data = step['send'].encode() * step.get('repeat', 1)
            while data:
                data = data[os.write(master, data):]
        elif 'resize' in step:
            winsize(master, *step['resize'])
        elif 'mode' in step:
            lflag = termios.tcgetattr(slave)[3]
            result['modes'].append({'icanon': bool(lflag & termios.ICANON), 'echo': bool(lflag & termios.ECHO), 'isig': bool(lflag & termios.ISIG)})
        elif 'signal' in step:
            os.kill(proc.pid, getattr(signal, step['signal']))
        elif 'sleep' in step:
            end = time.time() + step['sleep']
            while time.time() < end:
                pump(0.05)
    while proc.poll() is None:
        if time.time() > deadline:
            raise Exception('timed out waiting for the command to exit')
        pump(0.05)
    while pump(0.2):
        pass
except Exception as e:
    result['error'] = str(e)
    proc.kill()
    proc.wait()
result['code'] = proc.returncode
result['output'] = out.decode('utf-8', 'replace')
enc = lambda attrs: [a if isinstance(a, int) else [c if isinstance(c, int) else c.hex() for c in a] for a in attrs]
result['before'] = enc(before)
result['after'] = enc(termios.tcgetattr(slave))
print(json.dumps(result))
`;

export type Step =
  | { expect: string }
  | { send: string; repeat?: number }
  | { resize: [number, number] }
  | { mode: true }
  | { signal: 'SIGTERM' | 'SIGINT' | 'SIGHUP' }
  | { sleep: number };

export interface DriveResult {
  error: string | null;
  /** The command's exit code; minus the signal number when a signal killed it. */
  code: number;
  output: string;
  modes: { icanon: boolean; echo: boolean; isig: boolean }[];
  before: unknown;
  after: unknown;
}

export interface DriveOptions {
  argv: string[];
  env: Record<string, string>;
  steps: Step[];
  /** Rows and columns of the pseudo-terminal. */
  size?: [number, number];
  timeout?: number;
}

/** Runs argv on a new pseudo-terminal (python3's pty module) and reports what happened. */
export function drivePty(opts: DriveOptions): DriveResult {
  const cfg = { argv: opts.argv, env: opts.env, steps: opts.steps, size: opts.size ?? [24, 80], timeout: opts.timeout ?? 60 };
  const out = execFileSync('python3', ['-c', DRIVER, JSON.stringify(cfg)], { timeout: (cfg.timeout + 20) * 1000, maxBuffer: 64 << 20 });
  return JSON.parse(out.toString()) as DriveResult;
}
