import { Command, Option } from 'clipanion';
import { CtrError } from '../../errors.js';
import { CtrCommand } from '../command.js';

export class ExecCommand extends CtrCommand {
  static override paths = [['exec'], ['container', 'exec']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: 'run a command in a running container',
    details: `
      Runs COMMAND inside CONTAINER, next to its main process: same root file system, namespaces, environment and user, unless \`-e\`, \`--env-file\`, \`-u\` or \`-w\` say otherwise. ctr exits with the command's exit code: 125 when ctr itself failed (for instance the container is not running), 126 when the command cannot be run, 127 when it is not found. Signals sent to ctr reach the command.

      \`-d\` starts the command and returns at once; its output goes nowhere. With \`-t\` too it still gets a terminal of its own (24x80), whose output is dropped.

      With \`-it\`, the detach keys (default ctrl-p then ctrl-q; \`--detach-keys\` changes them, docker's format, "" disables them) leave the command running with its terminal and return with exit code 0.
    `,
    examples: [
      ['A shell in a running container', '$0 exec -it web sh'],
      ['One command as another user, in a directory', '$0 exec -u app -w /srv web ls -l'],
      ['Feed it standard input', 'echo hello | $0 exec -i web cat'],
      ['Start a background process', '$0 exec -d web sh -c "sleep 60"'],
      ['A shell to detach from with ctrl-x', '$0 exec -it --detach-keys ctrl-x web sh'],
    ],
  });

  interactive = Option.Boolean('-i,--interactive', false, { description: 'pass standard input to the command' });
  tty = Option.Boolean('-t,--tty', false, { description: 'give the command a terminal' });
  detach = Option.Boolean('-d,--detach', false, { description: 'start the command in the background and return' });
  user = Option.String('-u,--user', { description: 'run as USER[:GROUP] (names or numeric ids)' });
  workdir = Option.String('-w,--workdir', { description: 'working directory inside the container' });
  env = Option.Array('-e,--env', [], { description: 'set an environment variable: NAME=VALUE, or NAME to pass on your own' });
  envFile = Option.Array('--env-file', [], { description: 'read environment variables from a file' });
  privileged = Option.Boolean('--privileged', false, { description: 'give the command every capability' });
  detachKeys = Option.String('--detach-keys', { description: 'with -it: the keys that detach, e.g. ctrl-p,ctrl-q (the default); "" disables them' });
  container = Option.String({ name: 'CONTAINER' });
  args = Option.Proxy({ name: 'COMMAND' });

  async execute(): Promise<number> {
    const { execInContainer } = await import('../../engine/exec.js');
    const { checkTerminalInput } = await import('../../runtime/tty.js');
    if (!this.detach) checkTerminalInput({ interactive: this.interactive, tty: this.tty, stdin: () => this.context.stdin });
    const result = await execInContainer(
      {
        ...this.context.globals,
        container: this.container,
        command: this.args,
        interactive: this.interactive,
        tty: this.tty,
        detach: this.detach,
        user: this.user,
        workdir: this.workdir,
        env: this.env,
        envFile: this.envFile,
        privileged: this.privileged,
        detachKeys: this.detachKeys,
      },
      { stdin: this.interactive ? this.context.stdin : undefined, stdout: this.context.stdout, stderr: this.context.stderr },
    );
    if (result.startError) throw new CtrError(result.startError, result.exitCode);
    // Detached, the command goes on and a worker thread still waits for it: it must not keep ctr.
    if (result.detached) process.exit(result.exitCode);
    return result.exitCode;
  }
}
