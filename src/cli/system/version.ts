import { Command } from 'clipanion';
import { version } from '../../version.js';
import { CtrCommand } from '../command.js';

export class VersionCommand extends CtrCommand {
  static override paths = [['version']];
  static override usage = Command.Usage({
    category: 'System',
    description: 'show the ctr version',
    examples: [['Show the version', '$0 version']],
  });

  async execute(): Promise<number> {
    this.context.stdout.write(`ctr version ${version}\nnode ${process.version}\n`);
    return 0;
  }
}
