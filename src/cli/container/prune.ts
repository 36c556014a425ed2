import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';

export class ContainerPruneCommand extends CtrCommand {
  static override paths = [['container', 'prune']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: 'remove every stopped container',
    details: 'ctr never asks for confirmation: `-f` is accepted for docker compatibility.',
    examples: [['Remove stopped containers', '$0 container prune']],
  });

  force = Option.Boolean('-f,--force', false, { description: 'do not ask (ctr never asks)' });

  async execute(): Promise<number> {
    const { pruneContainers } = await import('../../engine/remove.js');
    const result = await pruneContainers(this.context.globals);
    if (result.deleted.length > 0) this.context.stdout.write(`Deleted Containers:\n${result.deleted.map((id) => `${id}\n`).join('')}\n`);
    for (const e of result.errors) this.context.stderr.write(`Error: ${e}\n`);
    return result.errors.length > 0 ? 1 : 0;
  }
}
