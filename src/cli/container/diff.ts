import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';

export class DiffCommand extends CtrCommand {
  static override paths = [['diff'], ['container', 'diff']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: 'list the files a container added, changed or deleted',
    details: 'One line per path, as docker prints them: `A` added, `C` changed (also each directory on the way to a change), `D` deleted. Mount points the runtime made (/etc/hosts and the like) are left out.',
    examples: [['What did the container change?', '$0 diff web']],
  });

  container = Option.String({ name: 'CONTAINER' });

  async execute(): Promise<number> {
    const { containerChanges } = await import('../../engine/diff.js');
    const changes = await containerChanges({ ...this.context.globals, container: this.container });
    // Paths are byte strings: written as the raw bytes of the names, as docker prints them.
    this.context.stdout.write(Buffer.from(changes.map((c) => `${c.kind} ${c.path}\n`).join(''), 'latin1'));
    return 0;
  }
}
