import { Command, Option, UsageError, type BaseContext, type CommandClass } from 'clipanion';
import { CtrCommand } from '../command.js';
import { bashCompletion, fishCompletion, SHELLS, zshCompletion, type Shell } from '../internal/completion-scripts.js';
import { commandReference } from '../internal/reference.js';

export class CompletionCommand extends CtrCommand {
  static override paths = [['completion']];
  static override usage = Command.Usage({
    category: 'System',
    description: 'print a shell completion script',
    details: `
      Prints a script that completes ctr's commands, subcommands and options in \`bash\`, \`zsh\` or \`fish\`. It is generated from the same command definitions as \`--help\` and the man pages, so it always matches this version of ctr.
    `,
    examples: [
      ['Complete ctr in the current bash session', 'source <($0 completion bash)'],
      ['Install bash completion for every session', '$0 completion bash > /etc/bash_completion.d/ctr'],
      ['Install zsh completion', '$0 completion zsh > "${fpath[1]}/_ctr"'],
      ['Install fish completion', '$0 completion fish > ~/.config/fish/completions/ctr.fish'],
    ],
  });

  shell = Option.String({ name: 'SHELL' });

  async execute(): Promise<number> {
    if (!SHELLS.includes(this.shell as Shell)) {
      throw new UsageError(`ctr cannot complete for the shell "${this.shell}": choose one of ${SHELLS.join(', ')}.`);
    }
    // Imported here: the list of commands includes this one.
    const { allCommands } = await import('../commands.js');
    const reference = commandReference((await allCommands()) as CommandClass<BaseContext>[]);
    const render = { bash: bashCompletion, zsh: zshCompletion, fish: fishCompletion }[this.shell as Shell];
    this.context.stdout.write(render(reference));
    return 0;
  }
}
