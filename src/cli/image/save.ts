import { Command, Option } from 'clipanion';
import { CtrError } from '../../errors.js';
import { CtrCommand } from '../command.js';

export class SaveCommand extends CtrCommand {
  static override paths = [['save'], ['image', 'save']];
  static override usage = Command.Usage({
    category: 'Images',
    description: 'write images to an archive',
    details: `
      Writes one or more images, with their names, to a tar archive on standard output or in the file given with \`-o\`. \`docker-archive\` (the default) is what \`docker load\` and \`podman load\` read; \`oci-archive\` is an OCI image layout in a tar, \`oci-dir\` the same as a directory. Layers are written uncompressed, exactly as they were pulled (the image ID stays the same). A file is written under a temporary name and renamed when complete, so a failed save leaves nothing.

      An image named by its ID is saved without a name, as docker does.
    `,
    examples: [
      ['Save an image to a file', '$0 save -o busybox.tar busybox'],
      ['Several images in one archive, compressed on the way', '$0 save app:1 app:2 | gzip > app.tar.gz'],
      ['An OCI archive', '$0 save --format oci-archive -o app.oci.tar app:1'],
      ['An OCI layout directory', '$0 save --format oci-dir -o app-layout app:1'],
    ],
  });

  output = Option.String('-o,--output', { description: 'write to this file (a directory for oci-dir) instead of standard output' });
  format = Option.String('--format', 'docker-archive', { description: 'docker-archive (default), oci-archive or oci-dir' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'print nothing but errors' });
  multiImage = Option.Boolean('-m,--multi-image-archive', false, { hidden: true, description: 'accepted for podman compatibility: several images always go in one archive' });
  images = Option.Rest({ name: 'IMAGE', required: 1 });

  async execute(): Promise<number> {
    const stdout = this.context.stdout as NodeJS.WritableStream & { isTTY?: boolean };
    if (!this.output && stdout.isTTY) throw new CtrError('refusing to write an image archive to a terminal; use -o FILE or redirect standard output');
    const { saveImages } = await import('../../engine/save.js');
    await saveImages({
      ...this.context.globals,
      images: this.images,
      format: this.format as 'docker-archive',
      output: this.output,
      stream: this.output ? undefined : this.context.stdout,
    });
    return 0;
  }
}
