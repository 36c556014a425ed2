import { Option } from 'clipanion';
import { detectIdMapping, singleIdMapping } from '../../runtime/idmap.js';
import { spawnInUserNamespace } from '../../runtime/userns.js';
import { CtrCommand } from '../command.js';

/** Runs a command inside ctr's user namespace (the mechanism `ctr unshare` will expose). */
export class UsernsCommand extends CtrCommand {
  static override paths = [['__userns']];

  single = Option.Boolean('--single', false);
  argv = Option.Proxy({ required: 1 });

  async execute(): Promise<number> {
    const mapping = this.single ? singleIdMapping(process.getuid!(), process.getgid!()) : detectIdMapping();
    const child = spawnInUserNamespace(mapping, this.argv, { stdio: ['inherit', 'inherit', 'inherit'] });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c, s) => resolve([c, s]));
    });
    await child.ready;
    return code ?? 128 + (signal === 'SIGKILL' ? 9 : 15);
  }
}
