import { Option } from 'clipanion';
import { detectIdMapping, singleIdMapping } from '../../runtime/idmap.js';
import { holdUserNamespace, releaseUserNamespace, spawnInUserNamespace } from '../../runtime/userns.js';
import { CtrCommand } from '../command.js';

/** Runs a command inside ctr's user namespace (the mechanism `ctr unshare` will expose). */
export class UsernsCommand extends CtrCommand {
  static override paths = [['__userns']];

  single = Option.Boolean('--single', false);
  /** Through holdUserNamespace and nsenter, as a rootless `run` starts its runtime. */
  held = Option.Boolean('--held', false);
  argv = Option.Proxy({ required: 1 });

  async execute(): Promise<number> {
    const mapping = this.single ? singleIdMapping(process.getuid!(), process.getgid!()) : detectIdMapping();
    const holding = this.held ? holdUserNamespace(mapping) : undefined;
    const held = await holding;
    const child = held
      ? Object.assign(held.spawn(this.argv, { stdio: ['inherit', 'inherit', 'inherit'] }), { ready: Promise.resolve() })
      : spawnInUserNamespace(mapping, this.argv, { stdio: ['inherit', 'inherit', 'inherit'] });
    child.on('exit', () => releaseUserNamespace(holding));
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c, s) => resolve([c, s]));
    });
    await child.ready;
    return code ?? 128 + (signal === 'SIGKILL' ? 9 : 15);
  }
}
