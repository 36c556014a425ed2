import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';

export class UnpauseCommand extends CtrCommand {
  static override paths = [['unpause'], ['container', 'unpause']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: 'resume the processes of one or more paused containers',
    details: 'Thaws each container that `ctr pause` froze; prints its name.',
    examples: [['Let it run again', '$0 unpause web']],
  });

  containers = Option.Rest({ name: 'CONTAINER', required: 1 });

  async execute(): Promise<number> {
    const { unpauseContainer } = await import('../../engine/pause.js');
    const { eachContainer } = await import('./lifecycle.js');
    return eachContainer(this.context, this.containers, (container) => unpauseContainer({ ...this.context.globals, container }));
  }
}
