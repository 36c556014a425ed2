import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';

export class UnpauseCommand extends CtrCommand {
  static override paths = [['unpause'], ['container', 'unpause']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: 'resume the processes of one or more paused containers',
    details: 'Thaws each container that `ctr pause` froze; prints its name; exits 1 if any could not be unpaused (missing, not running, not paused).',
    examples: [['Let it run again', '$0 unpause web']],
  });

  containers = Option.Rest({ name: 'CONTAINER', required: 1 });

  async execute(): Promise<number> {
    const { unpauseContainers } = await import('../../engine/pause.js');
    const { report } = await import('./lifecycle.js');
    return report(this.context, await unpauseContainers({ ...this.context.globals, containers: this.containers }));
  }
}
