import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';
import { compileTemplate } from '../format/template.js';

export class VolumeInspectCommand extends CtrCommand {
  static override paths = [['volume', 'inspect']];
  static override usage = Command.Usage({
    category: 'Volumes',
    description: 'show the details of volumes as JSON',
    details: `
      Prints a JSON array with one object per volume, with docker's fields: CreatedAt, Driver, Labels, Mountpoint (the directory that holds the data), Name, Options, Scope. With \`--format\`, a Go template is applied to each volume instead. Exits 1 if a volume does not exist, after printing the others.
    `,
    examples: [
      ['Everything about a volume', '$0 volume inspect cache'],
      ['Where its data lives', "$0 volume inspect --format '{{.Mountpoint}}' cache"],
    ],
  });

  format = Option.String('-f,--format', { description: 'Go template applied to each volume, or json' });
  names = Option.Rest({ name: 'VOLUME', required: 1 });

  async execute(): Promise<number> {
    const { inspectVolumes } = await import('../../engine/volume.js');
    const { found, missing } = inspectVolumes({ ...this.context.globals, names: this.names });
    if (!this.format || this.format === 'json') {
      this.context.stdout.write(`${JSON.stringify(found, null, 4)}\n`);
    } else {
      const render = compileTemplate(this.format);
      for (const v of found) this.context.stdout.write(`${render(v)}\n`);
    }
    for (const m of missing) this.context.stderr.write(`Error: no such volume: ${m}\n`);
    return missing.length > 0 ? 1 : 0;
  }
}
