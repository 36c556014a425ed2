import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';

export class TagCommand extends CtrCommand {
  static override paths = [['tag'], ['image', 'tag']];
  static override usage = Command.Usage({
    category: 'Images',
    description: 'give an image another name',
    details: 'Adds each TARGET name to the image SOURCE (a name or an ID). A name that belonged to another image moves to this one.',
    examples: [
      ['Name an image for a private registry', '$0 tag busybox registry.example:5000/tools/busybox:1'],
      ['Several names at once', '$0 tag app:build app:latest app:1.4'],
    ],
  });

  source = Option.String({ name: 'SOURCE' });
  targets = Option.Rest({ name: 'TARGET', required: 1 });

  async execute(): Promise<number> {
    const { tagImage } = await import('../../engine/images.js');
    await tagImage({ ...this.context.globals, source: this.source, targets: this.targets });
    return 0;
  }
}
