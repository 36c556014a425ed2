import { Command, Option } from 'clipanion';
import { CtrError } from '../../errors.js';
import { CtrCommand } from '../command.js';

export class StartCommand extends CtrCommand {
  static override paths = [['start'], ['container', 'start']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: 'start a created or stopped container',
    details: 'With `-a`, ctr stays attached as the container’s monitor, passes its output through and exits with its exit code; `-i` also passes standard input.',
    examples: [
      ['Run a created container attached', '$0 start -a job'],
      ['Attached with standard input', 'echo hello | $0 start -ai job'],
    ],
  });

  attach = Option.Boolean('-a,--attach', false, { description: 'attach standard output and error, exit with the container' });
  interactive = Option.Boolean('-i,--interactive', false, { description: 'attach standard input' });
  containers = Option.Rest({ name: 'CONTAINER', required: 1 });

  async execute(): Promise<number> {
    if (!this.attach) throw new CtrError('ctr start runs containers attached for now: use ctr start -a (detached containers come with ctr run -d)');
    if (this.containers.length > 1) throw new CtrError('ctr start -a takes one container');
    const { startContainer } = await import('../../engine/run.js');
    const result = await startContainer(
      { ...this.context.globals, container: this.containers[0]! },
      {
        stdin: this.interactive ? this.context.stdin : undefined,
        stdout: this.context.stdout,
        stderr: this.context.stderr,
        notice: (t) => this.context.stderr.write(`${t}\n`),
      },
    );
    if (result.startError) throw new CtrError(result.startError, result.exitCode);
    return result.exitCode;
  }
}
