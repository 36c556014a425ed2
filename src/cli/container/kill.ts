import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';

export class KillCommand extends CtrCommand {
  static override paths = [['kill'], ['container', 'kill']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: 'send a signal to running containers',
    details: "Sends SIGKILL, or the signal given with `-s` (a name such as HUP or SIGHUP, or a number), to each container's main process, without waiting. SIGKILL and the container's stop signal count as the user stopping it: its restart policy then leaves it stopped, and a paused container is unpaused so that they reach it (other signals wait until it is unpaused). Exits 1 if any container does not run or could not be signalled.",
    examples: [
      ['Kill a container', '$0 kill web'],
      ['Ask it to reload its configuration', '$0 kill -s HUP web'],
    ],
  });

  signal = Option.String('-s,--signal', 'KILL', { description: 'signal to send (default KILL)' });
  containers = Option.Rest({ name: 'CONTAINER', required: 1 });

  async execute(): Promise<number> {
    const { report } = await import('./lifecycle.js');
    const { killContainers } = await import('../../engine/stop.js');
    const result = await killContainers({ ...this.context.globals, containers: this.containers, signal: this.signal });
    return report(this.context, result);
  }
}
