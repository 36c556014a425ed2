import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Option } from 'clipanion';
import { consoleNative } from '../../native/console.js';
import { attachTerminal, checkTerminalInput, createConsoleSocket, userTerminalSize } from '../../runtime/tty.js';
import { CtrCommand } from '../command.js';

// After the container exits, the rest of its output must arrive within this time.
const OUTPUT_GRACE_MS = 5000;

/**
 * Test driver for the terminal code until `run -t` exists: runs the runc bundle BUNDLE with a
 * pty (`runc run --console-socket`), attaches the user's terminal, exits with the container's code.
 */
export class TtyTestCommand extends CtrCommand {
  static override paths = [['__tty-test']];

  interactive = Option.Boolean('-i,--interactive', false);
  runtime = Option.String('--runtime', 'runc');
  failAfter = Option.String('--fail-after', { description: 'throw an uncaught exception this many ms after attaching' });
  bundle = Option.String({ required: true });

  async execute(): Promise<number> {
    const { stdin, stdout } = process;
    checkTerminalInput({ interactive: this.interactive, tty: true, stdin: () => stdin });
    const bundle = resolve(this.bundle);
    const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
    config.process.terminal = true;
    // Sized from the start: a program that asks at once must not see 0x0.
    const size = userTerminalSize(stdout, stdin);
    if (size) config.process.consoleSize = { height: size.rows, width: size.cols };
    else delete config.process.consoleSize;
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(config, null, 2));

    const work = mkdtempSync(join(tmpdir(), 'ctr-tty-test-'));
    const state = join(work, 'state');
    const id = `tty-test-${process.pid}`;
    const socket = await createConsoleSocket(work);
    try {
      // runc hands over a pty only when it does not stay in the foreground: ctr adopts the
      // container's init (subreaper) to learn its exit status, as conmon does.
      consoleNative().setChildSubreaper();
      const pidFile = join(work, 'pid');
      const created = await this.runc(['--root', state, 'create', '--bundle', bundle, '--console-socket', socket.path, '--pid-file', pidFile, id]);
      if (created !== 0) return created;
      const master = await socket.master;
      const attachment = attachTerminal(master, { stdin: this.interactive ? stdin : null, stdout, rawInput: this.interactive });
      if (this.failAfter) {
        setTimeout(() => {
          throw new Error('crash requested by --fail-after');
        }, Number(this.failAfter));
      }
      const exited = waitChild(Number(readFileSync(pidFile, 'utf8')));
      const started = await this.runc(['--root', state, 'start', id]);
      if (started !== 0) {
        attachment.detach();
        await this.runc(['--root', state, 'delete', '--force', id]);
        return started;
      }
      const code = await exited;
      const grace = setTimeout(() => attachment.detach(), OUTPUT_GRACE_MS);
      await attachment.done;
      clearTimeout(grace);
      closeSync(master);
      await this.runc(['--root', state, 'delete', '--force', id]);
      return code;
    } finally {
      socket.close();
      rmSync(work, { recursive: true, force: true });
    }
  }

  private runc(args: string[]): Promise<number> {
    return new Promise((done, fail) => {
      const child = spawn(this.runtime, args, { stdio: ['ignore', 'inherit', 'inherit'] });
      child.on('error', fail);
      child.on('close', (code, signal) => done(code ?? 128 + (signal ? constants.signals[signal] : 0)));
    });
  }
}

/** The exit code of a child adopted as subreaper, docker's way: 128+N when killed by signal N. */
function waitChild(pid: number): Promise<number> {
  return new Promise((done, fail) => {
    consoleNative().waitPid(pid, (err, status) => (err ? fail(err) : done(status!.code ?? 128 + status!.signal!)));
  });
}
