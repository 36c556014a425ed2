import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';
import { timeoutOption } from './lifecycle.js';

export class StopCommand extends CtrCommand {
  static override paths = [['stop'], ['container', 'stop']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: 'stop running containers',
    details: `
      Sends each container its stop signal (\`--stop-signal\` at create, else the image's STOPSIGNAL, else SIGTERM), waits up to the timeout for it to exit, then kills it with SIGKILL. Its restart policy then leaves it stopped until it is started again. Prints each name once it has stopped; a container that does not run is left as it is. Exits 1 if any could not be stopped.
    `,
    examples: [
      ['Stop a container, waiting up to 10 seconds', '$0 stop web'],
      ['Give it 2 seconds before SIGKILL', '$0 stop -t 2 web worker'],
    ],
  });

  time = timeoutOption();
  containers = Option.Rest({ name: 'CONTAINER', required: 1 });

  async execute(): Promise<number> {
    const { parseTimeout, report } = await import('./lifecycle.js');
    const { stopContainers } = await import('../../engine/stop.js');
    const result = await stopContainers({ ...this.context.globals, containers: this.containers, timeout: parseTimeout(this.time) });
    return report(this.context, result);
  }
}
