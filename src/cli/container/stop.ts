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

      \`-s\` sends another signal instead of the stop signal. A paused container is unpaused once signalled, so that the signal reaches it.
    `,
    examples: [
      ['Stop a container, waiting up to 10 seconds', '$0 stop web'],
      ['Give it 2 seconds before SIGKILL', '$0 stop -t 2 web worker'],
      ['Stop with SIGINT instead of the stop signal', '$0 stop -s INT web'],
    ],
  });

  time = timeoutOption();
  signal = Option.String('-s,--signal', { description: "signal to stop with, a name such as INT or SIGINT, or a number (default: the container's stop signal)" });
  containers = Option.Rest({ name: 'CONTAINER', required: 1 });

  async execute(): Promise<number> {
    const { parseTimeout, report } = await import('./lifecycle.js');
    const { stopContainers } = await import('../../engine/stop.js');
    const result = await stopContainers({ ...this.context.globals, containers: this.containers, timeout: parseTimeout(this.time), signal: this.signal });
    return report(this.context, result);
  }
}
