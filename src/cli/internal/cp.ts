import { Option } from 'clipanion';
import { copyInto, copyOutOf, mountContainerRoot, type RootMount } from '../../engine/cp.js';
import { errorMessage } from '../../errors.js';
import { awaitUserNamespaceGo } from '../../runtime/userns.js';
import { CtrCommand } from '../command.js';

/**
 * Worker of `ctr cp`, run where the container's files are reachable with their owners: in the
 * running container's user namespace (ROOT is /proc/PID/root), or in a fresh user and mount
 * namespace where it first mounts a stopped container's overlay on ROOT. `--out` writes a tar
 * of the path to stdout; `--in` unpacks the tar on stdin there. Errors: one line on stderr, exit 1.
 */
export class CopyWorkerCommand extends CtrCommand {
  static override paths = [['__cp']];

  root = Option.String('--root', { required: true });
  container = Option.String('--container', '');
  overlay = Option.String('--overlay');
  binds = Option.String('--binds');
  out = Option.String('--out');
  in = Option.String('--in');
  follow = Option.Boolean('--follow', false);
  srcName = Option.String('--src-name');
  srcDir = Option.Boolean('--src-dir', false);
  stream = Option.Boolean('--stream', false);
  archive = Option.Boolean('--archive', false);

  async execute(): Promise<number> {
    try {
      awaitUserNamespaceGo();
      if (this.overlay) mountContainerRoot(this.root, this.overlay, this.binds ? (JSON.parse(this.binds) as RootMount[]) : []);
      const where = { root: this.root, container: this.container };
      if (this.out !== undefined) {
        await copyOutOf(where, this.out, this.follow, process.stdout);
      } else if (this.in !== undefined) {
        const source = this.stream ? undefined : { name: this.srcName ?? '', isDir: this.srcDir };
        await copyInto(where, this.in, source, this.archive, process.stdin);
      }
      return 0;
    } catch (err) {
      this.context.stderr.write(`${errorMessage(err)}\n`);
      return 1;
    }
  }
}
