import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';
import { timeoutOption } from './lifecycle.js';

export class RestartCommand extends CtrCommand {
  static override paths = [['restart'], ['container', 'restart']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: 'restart containers',
    details: 'Stops each container as `ctr stop` does (when it runs), then starts it again in the background under its own monitor, with the same ID; its log goes on. Exits 1 if any could not be restarted.',
    examples: [
      ['Restart a container', '$0 restart web'],
      ['Kill it after 1 second instead of 10', '$0 restart -t 1 web'],
    ],
  });

  time = timeoutOption();
  containers = Option.Rest({ name: 'CONTAINER', required: 1 });

  async execute(): Promise<number> {
    const { parseTimeout, report } = await import('./lifecycle.js');
    const { restartContainers } = await import('../../engine/stop.js');
    const result = await restartContainers({ ...this.context.globals, containers: this.containers, timeout: parseTimeout(this.time) });
    return report(this.context, result);
  }
}
