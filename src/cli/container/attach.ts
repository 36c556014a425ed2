import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';
import { parseBool } from '../options.js';

export class AttachCommand extends CtrCommand {
  static override paths = [['attach'], ['container', 'attach']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: "connect the terminal to a running container's input and output",
    details: `
      Connects to a running container (started with \`ctr run\`, with or without \`-d\`, or \`ctr start\`): its output and error appear on yours, what you type reaches it when it was started with \`-i\`, and a \`-t\` container gets your terminal in raw mode and its size. ctr exits with the container's exit code when it ends.

      Type the detach keys (default ctrl-p then ctrl-q) to leave it running and get your prompt back; \`--detach-keys\` changes them (docker's format: \`ctrl-a\`, \`ctrl-x,x\`; an empty string disables them). Signals ctr receives go to a container without a terminal unless \`--sig-proxy=false\` (with one, ctrl-c is a key the container gets).

      Containers run in the foreground of another \`ctr run\` (or \`ctr start -a\`) can be attached too: that ctr serves the same socket.
    `,
    examples: [
      ['Attach to a detached shell', '$0 attach web'],
      ['Detach with ctrl-x instead', '$0 attach --detach-keys ctrl-x web'],
      ['Only watch the output', '$0 attach --no-stdin --sig-proxy=false web'],
    ],
  });

  detachKeys = Option.String('--detach-keys', { description: 'the keys that detach, e.g. ctrl-p,ctrl-q (the default); "" disables them' });
  noStdin = Option.Boolean('--no-stdin', false, { description: 'do not pass standard input' });
  sigProxy = Option.String('--sig-proxy', { description: 'pass signals on to a container without a terminal (default true)', tolerateBoolean: true });
  container = Option.String({ name: 'CONTAINER' });

  async execute(): Promise<number> {
    const { attachContainer } = await import('../../engine/attach.js');
    const result = await attachContainer(
      {
        ...this.context.globals,
        container: this.container,
        detachKeys: this.detachKeys,
        noStdin: this.noStdin,
        sigProxy: parseBool(this.sigProxy, '--sig-proxy') ?? true,
      },
      { stdin: this.context.stdin, stdout: this.context.stdout, stderr: this.context.stderr },
    );
    return result.exitCode;
  }
}
