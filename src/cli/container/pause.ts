import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';

export class PauseCommand extends CtrCommand {
  static override paths = [['pause'], ['container', 'pause']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: 'pause every process of one or more containers',
    details: 'Freezes all processes of each container with the cgroup freezer; `ctr ps` shows it as `Up 2 minutes (Paused)` until `ctr unpause`. Rootless containers can be paused only where the user has a cgroup of its own (a delegated cgroup v2); elsewhere ctr says so. Prints the name of each container paused; exits 1 if any could not be paused (missing, not running, already paused).',
    examples: [['Freeze a container', '$0 pause web']],
  });

  containers = Option.Rest({ name: 'CONTAINER', required: 1 });

  async execute(): Promise<number> {
    const { pauseContainers } = await import('../../engine/pause.js');
    const { report } = await import('./lifecycle.js');
    return report(this.context, await pauseContainers({ ...this.context.globals, containers: this.containers }));
  }
}
