import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';
import { compileTemplate } from '../format/template.js';

export class InspectCommand extends CtrCommand {
  static override paths = [['inspect'], ['image', 'inspect']];
  static override usage = Command.Usage({
    category: 'Images',
    description: 'show the details of images as JSON',
    details: `
      Prints a JSON array with one object per name given, with docker's field names (Id, RepoTags, RepoDigests, Created, Config, Architecture, Os, Size, RootFS...). With \`--format\`, a Go template is applied to each object instead. Exits 1 if a name is unknown, after printing the others.
    `,
    examples: [
      ['Everything about an image', '$0 inspect busybox'],
      ['Its environment', "$0 inspect --format '{{json .Config.Env}}' busybox"],
      ['Its first name', "$0 image inspect --format '{{index .RepoTags 0}}' 3ca1b734d18e"],
    ],
  });

  format = Option.String('-f,--format', { description: 'Go template applied to each object, or json' });
  type = Option.String('--type', { description: 'only look for this kind of object: image' });
  names = Option.Rest({ name: 'NAME', required: 1 });

  async execute(): Promise<number> {
    if (this.type && this.type !== 'image') {
      this.context.stderr.write(`Error: --type ${this.type} is not known; ctr inspects images\n`);
      return 125;
    }
    const { inspectImages } = await import('../../engine/images.js');
    const { found, missing } = inspectImages({ ...this.context.globals, images: this.names });
    if (!this.format || this.format === 'json') {
      this.context.stdout.write(`${JSON.stringify(found, null, 4)}\n`);
    } else {
      const render = compileTemplate(this.format);
      for (const obj of found) this.context.stdout.write(`${render(obj)}\n`);
    }
    for (const m of missing) this.context.stderr.write(`Error: no such object: ${m}\n`);
    return missing.length > 0 ? 1 : 0;
  }
}
