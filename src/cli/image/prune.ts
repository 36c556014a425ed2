import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';
import { humanSize } from '../format/units.js';

export class ImagePruneCommand extends CtrCommand {
  static override paths = [['image', 'prune']];
  static override usage = Command.Usage({
    category: 'Images',
    description: 'remove images without a name (with -a: every image)',
    details: 'Removes dangling images, then the layers no image uses any more, and reports the space freed. ctr never asks for confirmation: `-f` is accepted for docker compatibility.',
    examples: [
      ['Remove dangling images', '$0 image prune'],
      ['Remove all images', '$0 image prune -a'],
    ],
  });

  all = Option.Boolean('-a,--all', false, { description: 'remove every image, not only those without a name' });
  force = Option.Boolean('-f,--force', false, { description: 'do not ask (ctr never asks)' });

  async execute(): Promise<number> {
    const { pruneImages } = await import('../../engine/images.js');
    const result = await pruneImages({ ...this.context.globals, all: this.all });
    if (result.deleted.length > 0) {
      this.context.stdout.write('Deleted Images:\n');
      for (const id of result.deleted) this.context.stdout.write(`deleted: ${id}\n`);
      this.context.stdout.write('\n');
    }
    this.context.stdout.write(`Total reclaimed space: ${humanSize(result.reclaimed)}\n`);
    return 0;
  }
}
