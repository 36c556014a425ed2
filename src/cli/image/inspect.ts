import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';
import { compileTemplate } from '../format/template.js';

export class InspectCommand extends CtrCommand {
  static override paths = [['inspect'], ['image', 'inspect'], ['container', 'inspect']];
  static override usage = Command.Usage({
    category: 'Images',
    description: 'show the details of containers and images as JSON',
    details: `
      Prints a JSON array with one object per name given, with docker's field names (containers: Id, Name, State, Config, Mounts...; images: Id, RepoTags, RepoDigests, Config, Architecture, Os, Size, RootFS...). A name is looked up among containers first, then images; \`ctr image inspect\` and \`ctr container inspect\` look only at one kind. With \`--format\`, a Go template is applied to each object instead. Exits 1 if a name is unknown, after printing the others.
    `,
    examples: [
      ['Everything about an image', '$0 inspect busybox'],
      ['Its environment', "$0 inspect --format '{{json .Config.Env}}' busybox"],
      ['Its first name', "$0 image inspect --format '{{index .RepoTags 0}}' 3ca1b734d18e"],
      ['How a container ended', "$0 inspect --format '{{.State.Status}} {{.State.ExitCode}}' web"],
    ],
  });

  format = Option.String('-f,--format', { description: 'Go template applied to each object, or json' });
  type = Option.String('--type', { description: 'only look for this kind of object: container or image' });
  names = Option.Rest({ name: 'NAME', required: 1 });

  async execute(): Promise<number> {
    const path = this.path.join(' ');
    const type = path === 'image inspect' ? 'image' : path === 'container inspect' ? 'container' : this.type;
    if (type !== undefined && type !== 'image' && type !== 'container') {
      this.context.stderr.write(`Error: --type ${type} is not known: use container or image\n`);
      return 125;
    }
    const { inspectObjects } = await import('../../engine/containers.js');
    const { found, missing } = await inspectObjects({ ...this.context.globals, names: this.names, type });
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
