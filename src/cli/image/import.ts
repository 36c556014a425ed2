import { Command, Option } from 'clipanion';
import { CtrError } from '../../errors.js';
import { CtrCommand } from '../command.js';

export class ImportCommand extends CtrCommand {
  static override paths = [['import'], ['image', 'import']];
  static override usage = Command.Usage({
    category: 'Images',
    description: 'create an image from a file-system tar archive',
    details: 'Reads a tar (plain, gzip or zstd) from a file, from standard input (`-`) or from an http(s) URL and makes a one-layer image of it, with the config changes `--change` gives (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL). Prints the new image ID.',
    examples: [
      ['From a container export', '$0 export web | $0 import - base:1'],
      ['From a file, with a command', '$0 import -c \'CMD ["/bin/sh"]\' rootfs.tar.gz mybase:latest'],
      ['From a web server', '$0 import https://example.org/rootfs.tar.zst mybase:2'],
    ],
  });

  changes = Option.Array('-c,--change', [], { description: 'apply a Dockerfile instruction to the config (repeatable)' });
  message = Option.String('-m,--message', { description: 'commit message, kept in the image history' });
  platform = Option.String('--platform', { description: 'OS/ARCH[/VARIANT] the image is for (default: this host)' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'print only the image ID' });
  format = Option.String('-f,--format', 'oci', { description: 'oci or docker: the media types of the image manifest' });
  source = Option.String({ name: 'FILE|URL|-' });
  reference = Option.String({ name: 'REPOSITORY[:TAG]', required: false });

  async execute(): Promise<number> {
    if (this.format !== 'oci' && this.format !== 'docker') throw new CtrError(`--format is oci or docker, not "${this.format}"`);
    const { importImage } = await import('../../engine/import.js');
    const id = await importImage({
      ...this.context.globals,
      source: this.source,
      stdin: this.context.stdin,
      reference: this.reference,
      changes: this.changes,
      message: this.message,
      platform: this.platform,
      format: this.format,
    });
    this.context.stdout.write(`${id}\n`);
    return 0;
  }
}
