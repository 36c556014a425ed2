import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';

export class RenameCommand extends CtrCommand {
  static override paths = [['rename'], ['container', 'rename']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: 'rename a container',
    details: 'Gives a container, running or not, a new name; the old one is free at once. Names are [a-zA-Z0-9][a-zA-Z0-9_.-]* and unique.',
    examples: [['Rename a container', '$0 rename old_name new_name']],
  });

  container = Option.String({ name: 'CONTAINER' });
  newName = Option.String({ name: 'NEW_NAME' });

  async execute(): Promise<number> {
    const { renameContainer } = await import('../../engine/rename.js');
    await renameContainer({ ...this.context.globals, container: this.container, newName: this.newName });
    return 0;
  }
}
