import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';

export class CpCommand extends CtrCommand {
  static override paths = [['cp'], ['container', 'cp']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: 'copy files between a container and this machine',
    details: `
      Copies SRC to DEST, one of them written CONTAINER:PATH (paths in the container are from its root), running or stopped. \`-\` as SRC reads a tar from standard input and unpacks it into the container directory DEST; \`-\` as DEST writes a tar of SRC to standard output.

      docker's rules: a directory is copied into an existing directory under its own name, or becomes DEST when DEST does not exist; \`dir/.\` copies what the directory holds. A file replaces an existing file, goes into an existing directory, or becomes DEST (whose parent must exist; DEST ending in / must be an existing directory).

      Symlinks are copied as links (\`-L\` follows one given as SRC) and the container's symlinks never lead out of it. Files copied into a container belong to its root unless \`-a\` keeps their owners; files copied out belong to you. File capabilities (security.capability) and user.* extended attributes go along wherever you may set them (a rootless copy out leaves capabilities behind); names are copied byte for byte, UTF-8 or not.
    `,
    examples: [
      ['Copy a file out of a container', '$0 cp web:/etc/nginx/nginx.conf .'],
      ['Copy a directory into a container', '$0 cp ./site web:/usr/share/nginx/html'],
      ['The contents of a directory, with their owners', '$0 cp -a ./site/. web:/srv'],
      ['A tar of a container directory', '$0 cp web:/var/log - > logs.tar'],
    ],
  });

  archive = Option.Boolean('-a,--archive', false, { description: 'keep uid/gid of the source' });
  followLink = Option.Boolean('-L,--follow-link', false, { description: 'when SRC is a symlink, copy what it points to' });
  source = Option.String({ name: 'SRC' });
  destination = Option.String({ name: 'DEST' });

  async execute(): Promise<number> {
    const { copyFiles } = await import('../../engine/cp.js');
    await copyFiles({
      ...this.context.globals,
      source: this.source,
      destination: this.destination,
      archive: this.archive,
      followLink: this.followLink,
      stdin: this.context.stdin,
      stdout: this.context.stdout,
    });
    return 0;
  }
}
