import { Command, Option } from 'clipanion';
import { CtrError } from '../../errors.js';
import { CtrCommand } from '../command.js';
import { parseBool } from '../options.js';

export class CommitCommand extends CtrCommand {
  static override paths = [['commit'], ['container', 'commit']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: 'create a new image from a container’s changes',
    details: `
      Makes an image of the container's image plus one layer holding exactly what the container changed: added and modified files, a whiteout for each deletion, with their owners, modes, links and xattrs as the container sees them. \`--change\` applies Dockerfile instructions (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL) to the new image's config.

      A running container is paused while its files are read (\`--pause=false\` to leave it running). Without REPOSITORY[:TAG] the image has no name. Prints the new image ID.
    `,
    examples: [
      ['Keep a container as an image', '$0 commit web myapp:1'],
      ['With a new command and a message', '$0 commit -c \'CMD ["/app", "--serve"]\' -m "add the app" web myapp:2'],
      ['Set environment and a port', '$0 commit -c "ENV MODE=prod" -c "EXPOSE 8080" web myapp:3'],
      ['Docker media types', '$0 commit --format docker web myapp:docker'],
    ],
  });

  author = Option.String('-a,--author', { description: 'author of the image (e.g. "Jane <jane@example.org>")' });
  changes = Option.Array('-c,--change', [], { description: 'apply a Dockerfile instruction to the config (repeatable)' });
  message = Option.String('-m,--message', { description: 'commit message, kept in the image history' });
  pause = Option.String('-p,--pause', { description: 'pause a running container while committing (default true)', tolerateBoolean: true });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'print only the image ID' });
  format = Option.String('-f,--format', 'oci', { description: 'oci or docker: the media types of the image manifest' });
  container = Option.String({ name: 'CONTAINER' });
  reference = Option.String({ name: 'REPOSITORY[:TAG]', required: false });

  async execute(): Promise<number> {
    if (this.format !== 'oci' && this.format !== 'docker') throw new CtrError(`--format is oci or docker, not "${this.format}"`);
    const { commitContainer } = await import('../../engine/commit.js');
    const id = await commitContainer(
      {
        ...this.context.globals,
        container: this.container,
        reference: this.reference,
        changes: this.changes,
        message: this.message,
        author: this.author,
        pause: parseBool(this.pause, '--pause'),
        format: this.format,
      },
      { notice: (t) => this.context.stderr.write(`${t}\n`) },
    );
    this.context.stdout.write(`${id}\n`);
    return 0;
  }
}
