import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';

export class RmiCommand extends CtrCommand {
  static override paths = [['rmi'], ['image', 'rm'], ['image', 'remove']];
  static override usage = Command.Usage({
    category: 'Images',
    description: 'remove images',
    details: `
      A name removes that name; the image itself goes when it has no name left, and so do the layers no other image uses. An ID removes the image; one with several names needs \`--force\`. Exits 1 if any image could not be removed, after removing the others.
    `,
    examples: [
      ['Remove an image by name', '$0 rmi busybox'],
      ['Remove several', '$0 rmi app:1 app:2 3ca1b734d18e'],
      ['Remove an image and all its names', '$0 rmi -f 3ca1b734d18e'],
    ],
  });

  force = Option.Boolean('-f,--force', false, { description: 'remove the image even if it has several names' });
  images = Option.Rest({ name: 'IMAGE', required: 1 });

  async execute(): Promise<number> {
    const { removeImages } = await import('../../engine/images.js');
    const result = await removeImages({ ...this.context.globals, images: this.images, force: this.force });
    for (const n of result.untagged) this.context.stdout.write(`Untagged: ${n}\n`);
    for (const id of result.deleted) this.context.stdout.write(`Deleted: ${id}\n`);
    for (const e of result.errors) this.context.stderr.write(`Error: ${e}\n`);
    return result.errors.length > 0 ? 1 : 0;
  }
}
