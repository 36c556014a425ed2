import { Command, Option } from 'clipanion';
import { CtrError } from '../../errors.js';
import { CtrCommand } from '../command.js';

export class VolumeCreateCommand extends CtrCommand {
  static override paths = [['volume', 'create']];
  static override usage = Command.Usage({
    category: 'Volumes',
    description: 'create a named volume',
    details: `
      Makes an empty volume and prints its name; without a name, a random 64-character one. Creating a volume that exists already prints its name again and changes nothing, so scripts can run it every time. Names use letters, digits, \`_\`, \`.\` and \`-\`, starting with a letter or digit. Volumes are directories in the store (\`ctr volume inspect\` shows where); \`ctr run -v NAME:/path\` also creates one on first use.
    `,
    examples: [
      ['Create a volume', '$0 volume create cache'],
      ['With labels', '$0 volume create --label project=web --label tier=db pgdata'],
      ['A volume with a generated name', '$0 volume create'],
    ],
  });

  labels = Option.Array('-l,--label', [], { description: 'set a label KEY=VALUE (repeatable)' });
  opts = Option.Array('-o,--opt', [], { description: 'set a driver option KEY=VALUE (local driver: type, device, o)' });
  driver = Option.String('-d,--driver', 'local', { description: 'volume driver (only local)' });
  name = Option.String({ required: false, name: 'NAME' });

  async execute(): Promise<number> {
    const { createVolume, parseKeyValues } = await import('../../engine/volume.js');
    if (this.driver !== 'local') throw new CtrError(`volume driver "${this.driver}" is not known: ctr has only the local driver`);
    const volume = await createVolume({
      ...this.context.globals,
      name: this.name,
      labels: parseKeyValues(this.labels, '--label'),
      options: parseKeyValues(this.opts, '--opt'),
    });
    this.context.stdout.write(`${volume.Name}\n`);
    return 0;
  }
}
