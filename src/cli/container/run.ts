import { Command, Option } from 'clipanion';
import { lazyPullProgress, pullProgress } from '../progress.js';
import { ContainerFlagsCommand } from './flags.js';

export class RunCommand extends ContainerFlagsCommand {
  static override paths = [['run'], ['container', 'run']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: 'run a command in a new container',
    details: `
      Creates a container from IMAGE (pulled first when it is not here) and runs COMMAND in it, or the image's ENTRYPOINT and CMD. ctr stays in the foreground as the container's monitor: standard output and error pass through unchanged (and are kept for \`ctr logs\`), \`-i\` passes standard input, signals sent to ctr reach the container, and ctr exits with the container's exit code: 125 when ctr itself failed, 126 when the command cannot be run, 127 when it is not found.

      With \`-d\`, the container runs in the background under its own small monitor (conmon), which keeps its output for \`ctr logs\`, records its exit code, removes it on exit with \`--rm\` and restarts it as \`--restart\` says; ctr prints the container's full ID once its command runs, and exits 125, 126 or 127 when it could not be started. No daemon is involved: \`ctr stop\`, \`ctr wait\`, \`ctr ps\` and the others find the container from any terminal.

      As a normal user, root in the container is you and other ids are your /etc/subuid range; files keep their owners.
    `,
    examples: [
      ['Run a shell', '$0 run -it busybox sh'],
      ['A service in the background, restarted when it fails', '$0 run -d --name web --restart on-failure:5 busybox httpd -f'],
      ['Build in the current directory and clean up', '$0 run --rm -v "$PWD":/src -w /src gcc make'],
      ['Pipe a tar archive through a container', 'tar c . | $0 run -i --rm busybox tar t'],
      ['As another user, read-only', '$0 run --rm -u 1000:1000 --read-only busybox id'],
    ],
  });

  detach = Option.Boolean('-d,--detach', false, { description: 'run in the background under a small monitor (conmon) and print the container ID' });

  async execute(): Promise<number> {
    const { runContainer, runDetached } = await import('../../engine/run.js');
    const { CtrError } = await import('../../errors.js');
    const opts = this.containerOptions();
    if (this.detach) {
      const progress = pullProgress(this.context.stderr, false);
      try {
        const { id } = await runDetached({ ...this.context.globals, ...opts }, { progress, notice: (t) => this.context.stderr.write(`${t}\n`) });
        this.context.stdout.write(`${id}\n`);
        return 0;
      } finally {
        progress.finish();
      }
    }
    const { checkTerminalInput } = await import('../../runtime/tty.js');
    checkTerminalInput({ interactive: opts.interactive ?? false, tty: opts.tty ?? false, stdin: () => this.context.stdin });
    // Standard output and error are opened (~4 ms of Node's stream code) only when first used,
    // which for a present image is after the runtime has started.
    const context = this.context;
    const progress = lazyPullProgress(() => context.stderr);
    try {
      const result = await runContainer(
        { ...context.globals, ...opts },
        {
          stdin: opts.interactive ? context.stdin : undefined,
          get stdout() {
            return context.stdout;
          },
          get stderr() {
            return context.stderr;
          },
          progress,
          notice: (t) => context.stderr.write(`${t}\n`),
        },
      );
      if (result.startError) throw new CtrError(result.startError, result.exitCode);
      return result.exitCode;
    } finally {
      progress.finish();
    }
  }
}
