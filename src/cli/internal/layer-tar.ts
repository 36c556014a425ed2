import { Option, UsageError } from 'clipanion';
import { execFileSync } from 'node:child_process';
import { writeSync } from 'node:fs';
import { listChanges, writeTree } from '../../archive/diff.js';
import { errorMessage } from '../../errors.js';
import { awaitUserNamespaceGo } from '../../runtime/userns.js';
import { CtrCommand } from '../command.js';

/** write(2) until every byte is out; a non-blocking pipe that is full is waited on. */
export function writeAll(fd: number, chunk: Buffer): void {
  let off = 0;
  while (off < chunk.length) {
    try {
      off += writeSync(fd, chunk, off);
    } catch (err) {
      if ((err as { code?: string }).code !== 'EAGAIN') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

/**
 * Worker: reads a container's files where they can be read with their owners (rootless: inside
 * the user namespace) and writes to stdout: `changes` its changes as JSON lines, `export` the tar of its whole file system (the overlay mounted
 * read-only on --mount, in the private mount namespace it was started in). Errors on stderr, exit 1.
 */
export class DiffTarWorkerCommand extends CtrCommand {
  static override paths = [['__diff-tar']];

  action = Option.String({ required: true });
  upper = Option.String('--upper', { required: true });
  lowers = Option.Array('--lower', []);
  mount = Option.String('--mount');
  userxattr = Option.Boolean('--userxattr', false);

  async execute(): Promise<number> {
    try {
      awaitUserNamespaceGo();
      const out = (chunk: Buffer) => writeAll(1, chunk);
      switch (this.action) {
        case 'changes':
          for (const c of listChanges(this.upper, this.lowers)) out(Buffer.from(`${JSON.stringify(c)}\n`));
          break;
        case 'export': {
          if (!this.mount) throw new UsageError('export needs --mount DIR');
          // The upper directory as the top lower layer: a read-only view that never writes to it.
          const options = [`lowerdir=${[this.upper, ...this.lowers].join(':')}`, ...(this.userxattr ? ['userxattr'] : [])];
          execFileSync('mount', ['-n', '-t', 'overlay', '-o', `ro,${options.join(',')}`, 'overlay', this.mount], { stdio: ['ignore', 'ignore', 'pipe'] });
          writeTree(this.mount, out);
          break;
        }
        default:
          throw new UsageError(`unknown action ${this.action}: use changes or export`);
      }
      return 0;
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr;
      this.context.stderr.write(`${stderr?.length ? stderr.toString().trim() : errorMessage(err)}\n`);
      return 1;
    }
  }
}
