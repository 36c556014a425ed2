import { Command, Option } from 'clipanion';
import { CtrError } from '../../errors.js';
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
    let failed: CtrError | undefined;
    for (const container of this.containers) {
      try {
        await unpauseContainer({ ...this.context.globals, container });
        this.context.stdout.write(`${container}\n`);
      } catch (err) {
        if (!(err instanceof CtrError) || this.containers.length === 1) throw err;
        this.context.stderr.write(`Error: ${err.message}\n`);
        failed = err;
      }
    }
    return failed ? failed.exitCode : 0;
  }
}
