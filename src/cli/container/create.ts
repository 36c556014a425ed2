import { Command } from 'clipanion';
import { pullProgress } from '../progress.js';
import { ContainerFlagsCommand } from './flags.js';

export class CreateCommand extends ContainerFlagsCommand {
  static override paths = [['create'], ['container', 'create']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: 'create a container without starting it',
    details: 'Takes the same flags as `ctr run` and prints the new container’s ID; `ctr start -a` runs it later.',
    examples: [
      ['Create, then start attached', '$0 create --name job busybox echo hello && $0 start -a job'],
    ],
  });

  async execute(): Promise<number> {
    const { create } = await import('../../engine/create.js');
    const opts = this.containerOptions();
    const progress = pullProgress(this.context.stderr, false);
    try {
      const rec = await create({ ...this.context.globals, ...opts }, progress);
      this.context.stdout.write(`${rec.id}\n`);
      return 0;
    } finally {
      progress.finish();
    }
  }
}
