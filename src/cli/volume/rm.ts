import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';

export class VolumeRmCommand extends CtrCommand {
  static override paths = [['volume', 'rm'], ['volume', 'remove']];
  static override usage = Command.Usage({
    category: 'Volumes',
    description: 'remove volumes and their data',
    details: `
      Removes each volume and everything in it, and prints its name. A volume a container uses (running or not) is refused unless \`--force\`; \`--force\` also says nothing of volumes that do not exist. Exits 1 if any volume could not be removed, after removing the others.
    `,
    examples: [
      ['Remove a volume', '$0 volume rm cache'],
      ['Remove several', '$0 volume rm cache pgdata'],
      ['Remove every volume no container uses', '$0 volume rm $($0 volume ls -q --filter dangling=true)'],
    ],
  });

  force = Option.Boolean('-f,--force', false, { description: 'remove volumes even if containers use them' });
  names = Option.Rest({ name: 'VOLUME', required: 1 });

  async execute(): Promise<number> {
    const { removeVolumes } = await import('../../engine/volume.js');
    const result = await removeVolumes({ ...this.context.globals, names: this.names, force: this.force });
    for (const n of result.removed) this.context.stdout.write(`${n}\n`);
    for (const e of result.errors) this.context.stderr.write(`Error: ${e}\n`);
    return result.errors.length > 0 ? 1 : 0;
  }
}
