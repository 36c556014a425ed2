import { Command, Option } from 'clipanion';
import { CtrError } from '../../errors.js';
import { shortId } from '../../image/digest.js';
import { CtrCommand } from '../command.js';
import { humanSize } from '../format/units.js';

export class LoadCommand extends CtrCommand {
  static override paths = [['load'], ['image', 'load']];
  static override usage = Command.Usage({
    category: 'Images',
    description: 'load images from an archive',
    details: `
      Reads a docker-archive (from \`docker save\`, \`podman save\`, \`skopeo copy\` or \`ctr save\`), an OCI archive, or an OCI layout directory, from standard input or the file or directory given with \`-i\`; the archive may be gzip or zstd compressed. Every layer is verified against the image config before the images are recorded under the names the archive gives them. A bad archive stores nothing.

      Prints \`Loaded image: NAME\` for each name, or \`Loaded image ID: ID\` for an image without one; one line per layer on standard error while it works, unless \`-q\`.
    `,
    examples: [
      ['Load an archive', '$0 load -i busybox.tar'],
      ['From standard input, compressed', 'gunzip -c app.tar.gz | $0 load'],
      ['An OCI layout directory', '$0 load -i app-layout'],
    ],
  });

  input = Option.String('-i,--input', { description: 'read this archive file or OCI layout directory instead of standard input' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'print only the loaded names' });

  async execute(): Promise<number> {
    const stdin = this.context.stdin as NodeJS.ReadableStream & { isTTY?: boolean };
    if (!this.input && stdin.isTTY) throw new CtrError('refusing to read an image archive from a terminal; use -i FILE or redirect standard input');
    const { loadImages } = await import('../../engine/load.js');
    const { displayName } = await import('../../engine/images.js');
    const err = this.context.stderr;
    const images = await loadImages({
      ...this.context.globals,
      input: this.input,
      stream: this.input ? undefined : this.context.stdin,
      progress: {
        layer: this.quiet
          ? undefined
          : (name, phase, size) => {
              const what = name.startsWith('sha256:') ? shortId(name) : name;
              err.write(phase === 'exists' ? `Layer ${what} already exists\n` : `Loading layer ${what} (${humanSize(size)})\n`);
            },
        notice: (text) => err.write(`${text}\n`),
      },
    });
    for (const img of images) {
      if (img.names.length === 0) this.context.stdout.write(`Loaded image ID: ${img.id}\n`);
      for (const n of img.names) this.context.stdout.write(`Loaded image: ${displayName(n)}\n`);
    }
    return 0;
  }
}
