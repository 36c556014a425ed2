import { Command, Option } from 'clipanion';
import { CtrError } from '../../errors.js';
import { CtrCommand } from '../command.js';

export class StartCommand extends CtrCommand {
  static override paths = [['start'], ['container', 'start']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: 'start created or stopped containers',
    details: `
      Starts each container in the background under its own monitor (conmon), as \`ctr run -d\` does, and prints its name once its command runs; a container that already runs is left alone. Exits 1 if any could not be started, after starting the others.

      With \`-a\`, ctr stays attached as the container's monitor instead, passes its output through and exits with its exit code; \`-i\` also passes standard input.

      \`--all\` starts every container that does not run, narrowed by \`--filter\` (restart-policy=NAME, name=REGEX, id=PREFIX, label=KEY[=VALUE]); containers with the unless-stopped policy that were stopped with \`ctr stop\` stay stopped. That is what a unit run at boot wants: \`ctr start --all --filter restart-policy=always\`.
    `,
    examples: [
      ['Start a stopped container in the background', '$0 start web'],
      ['Run a created container attached', '$0 start -a job'],
      ['Attached with standard input', 'echo hello | $0 start -ai job'],
      ['At boot, everything that should always run', '$0 start --all --filter restart-policy=always'],
    ],
  });

  attach = Option.Boolean('-a,--attach', false, { description: 'attach standard output and error, exit with the container' });
  interactive = Option.Boolean('-i,--interactive', false, { description: 'attach standard input' });
  all = Option.Boolean('--all', false, { description: 'start every container that does not run (see --filter)' });
  filters = Option.Array('-f,--filter', [], { description: 'with --all: restart-policy=, name=, id=, label=' });
  containers = Option.Rest({ name: 'CONTAINER' });

  async execute(): Promise<number> {
    if (this.all && this.containers.length > 0) throw new CtrError('ctr start --all takes no container names; narrow it with --filter');
    if (this.filters.length > 0 && !this.all) throw new CtrError('--filter needs --all: ctr start --all --filter restart-policy=always');
    if (!this.all && this.containers.length === 0) throw new CtrError('ctr start needs a container name or ID (or --all)');
    if (this.attach || this.interactive) return this.startAttached();
    const { startContainers } = await import('../../engine/run.js');
    const result = await startContainers({
      ...this.context.globals,
      containers: this.containers,
      all: this.all,
      filters: this.filters,
      notice: (t) => this.context.stderr.write(`${t}\n`),
    });
    for (const name of result.started) this.context.stdout.write(`${name}\n`);
    for (const e of result.errors) this.context.stderr.write(`Error: ${e}\n`);
    return result.errors.length > 0 ? 1 : 0;
  }

  private async startAttached(): Promise<number> {
    if (this.all || this.containers.length > 1) throw new CtrError('ctr start -a (or -i) takes one container');
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
