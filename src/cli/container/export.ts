import { Command, Option } from 'clipanion';
import { CtrError } from '../../errors.js';
import { CtrCommand } from '../command.js';

export class ExportCommand extends CtrCommand {
  static override paths = [['export'], ['container', 'export']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: 'write a container’s file system as a tar archive',
    details: 'The whole file system as the container sees it (its image with its changes), with owners, modes and links, to `-o FILE` or to standard output when that is not a terminal. `ctr import` makes an image of it again.',
    examples: [
      ['Into a file', '$0 export -o web.tar web'],
      ['Through a pipe', '$0 export web | gzip > web.tar.gz'],
    ],
  });

  output = Option.String('-o,--output', { description: 'write to FILE instead of standard output' });
  container = Option.String({ name: 'CONTAINER' });

  async execute(): Promise<number> {
    const stdout = this.context.stdout as NodeJS.WriteStream;
    if (!this.output && stdout.isTTY) throw new CtrError('refusing to write a tar archive to a terminal: use -o FILE or redirect the output (ctr export web > web.tar)');
    const { exportContainer } = await import('../../engine/export.js');
    await exportContainer({ ...this.context.globals, container: this.container, output: this.output, stream: this.output ? undefined : stdout });
    return 0;
  }
}
