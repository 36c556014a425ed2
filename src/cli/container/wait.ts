import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';

export class WaitCommand extends CtrCommand {
  static override paths = [['wait'], ['container', 'wait']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: 'wait for containers to stop and print their exit codes',
    details: 'Blocks until each container has stopped, then prints its exit code, one line per container in the order given. A container that does not run gives its last exit code at once (0 when it never ran). Exits 1 if any container was not found.',
    examples: [
      ['Wait for a batch job', '$0 wait job'],
      ['Use the code in a script', 'code=$($0 wait job)'],
    ],
  });

  containers = Option.Rest({ name: 'CONTAINER', required: 1 });

  async execute(): Promise<number> {
    const { waitContainers } = await import('../../engine/stop.js');
    const result = await waitContainers({ ...this.context.globals, containers: this.containers });
    for (const { code } of result.codes) this.context.stdout.write(`${code}\n`);
    for (const e of result.errors) this.context.stderr.write(`Error: ${e}\n`);
    return result.errors.length > 0 ? 1 : 0;
  }
}
