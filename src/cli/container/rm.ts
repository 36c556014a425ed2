import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';

export class RmCommand extends CtrCommand {
  static override paths = [['rm'], ['container', 'rm'], ['container', 'remove']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: 'remove containers',
    details: 'Removes each container by name, ID or unique ID prefix, with what it wrote. A running container needs `--force` (it is killed first). `-v` also removes its anonymous volumes. Exits 1 if any could not be removed, after removing the others.',
    examples: [
      ['Remove a stopped container', '$0 rm web'],
      ['Kill and remove a running one with its anonymous volumes', '$0 rm -fv web'],
      ['Remove every stopped container', '$0 container prune'],
    ],
  });

  force = Option.Boolean('-f,--force', false, { description: 'kill a running container first' });
  volumes = Option.Boolean('-v,--volumes', false, { description: 'also remove its anonymous volumes' });
  containers = Option.Rest({ name: 'CONTAINER', required: 1 });

  async execute(): Promise<number> {
    const { removeContainers } = await import('../../engine/remove.js');
    const result = await removeContainers({ ...this.context.globals, containers: this.containers, force: this.force, volumes: this.volumes });
    for (const name of result.removed) this.context.stdout.write(`${name}\n`);
    for (const e of result.errors) this.context.stderr.write(`Error: ${e}\n`);
    return result.errors.length > 0 ? 1 : 0;
  }
}
