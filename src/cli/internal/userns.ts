import { Option } from 'clipanion';
import { detectIdMapping, findExecutable, singleIdMapping } from '../../runtime/idmap.js';
import { startProcess } from '../../runtime/process.js';
import { holdUserNamespace, spawnInUserNamespace } from '../../runtime/userns.js';
import { CtrCommand } from '../command.js';

/** Runs a command inside ctr's user namespace (the mechanism `ctr unshare` will expose). */
export class UsernsCommand extends CtrCommand {
  static override paths = [['__userns']];

  single = Option.Boolean('--single', false);
  /** Through holdUserNamespace and startProcess, as a rootless `run` starts its runtime. */
  held = Option.Boolean('--held', false);
  argv = Option.Proxy({ required: 1 });

  async execute(): Promise<number> {
    const mapping = this.single ? singleIdMapping(process.getuid!(), process.getgid!()) : detectIdMapping();
    const holding = this.held ? holdUserNamespace(mapping) : undefined;
    const held = await holding;
    if (held) {
      try {
        const file = this.argv[0]!.includes('/') ? this.argv[0]! : findExecutable(this.argv[0]!) ?? this.argv[0]!;
        return await startProcess([file, ...this.argv.slice(1)], { stdio: [0, 1, 2], usernsOf: held.pid }).exited;
      } finally {
        held.release();
      }
    }
    const child = spawnInUserNamespace(mapping, this.argv, { stdio: ['inherit', 'inherit', 'inherit'] });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c, s) => resolve([c, s]));
    });
    await child.ready;
    return code ?? 128 + (signal === 'SIGKILL' ? 9 : 15);
  }
}
