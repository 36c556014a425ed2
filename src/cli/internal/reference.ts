import { Cli, type BaseContext, type CommandClass } from 'clipanion';
import { version } from '../../version.js';
import { CtrCommand } from '../command.js';

export interface OptionReference {
  /** As clipanion shows it, e.g. `-q,--quiet` or `--format #0`. */
  definition: string;
  names: string[];
  takesValue: boolean;
  description?: string;
}

/** What a user can learn about one command: the source of --help, the man pages and completion. */
export interface CommandReference {
  /** Every path that runs the command, the primary one first (e.g. ['image','ls'], ['images']). */
  paths: string[][];
  category?: string;
  description?: string;
  /** Markdown-ish text as written in the command (dedented, not wrapped). */
  details?: string;
  /** Positional arguments as clipanion shows them: `<IMAGE>`, `[TAG]`, `...`. */
  operands: string[];
  options: OptionReference[];
  /** [what it does, command line] with `$0` replaced by `ctr`. */
  examples: [string, string][];
}

/** True for commands users never type: no usage text or an `__internal` path. */
export function isHidden(command: CommandClass<BaseContext>): boolean {
  return command.usage === undefined || (command.paths ?? []).some((path) => path[0]?.startsWith('__') ?? false);
}

/** The reference of every visible command, from clipanion's own definitions of them. */
export function commandReference(commands: CommandClass<BaseContext>[]): CommandReference[] {
  const visible = commands.filter((c) => !isHidden(c) && (c.paths?.length ?? 0) > 0);
  const cli = new Cli({ binaryName: 'ctr' });
  for (const c of visible) cli.register(c);
  // definitions() lists the registered commands that have usage, in registration order.
  return cli.definitions().map((def, i) => {
    const command = visible[i]!;
    const primary = command.paths![0]!;
    // Options without a description stay inline in the usage line; the rest are listed apart.
    const tokens = (def.usage.match(/\[(?:[^[\]]|\[[^\]]*\])*\]|<[^>]*>|\S+/g) ?? []).slice(1 + primary.length);
    const inline = tokens.filter((t) => /^[[<]-/.test(t)).map((t) => option(t.slice(1, -1)));
    return {
      paths: command.paths!,
      category: command.usage!.category,
      description: command.usage!.description,
      details: command.usage!.details === undefined ? undefined : dedent(command.usage!.details),
      operands: tokens.filter((t) => !/^[[<]-/.test(t)),
      options: [...def.options.map((o) => option(o.definition, o.description)), ...inline],
      examples: (command.usage!.examples ?? []).map(([label, line]) => [label, line.replace(/\$0/g, 'ctr')]),
    };
  });
}

function option(definition: string, description?: string): OptionReference {
  const [names = '', ...args] = definition.split(' ');
  return { definition, names: names.split(','), takesValue: args.length > 0, description };
}

function dedent(text: string): string {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const indent = Math.min(...lines.filter((l) => /\S/.test(l)).map((l) => l.length - l.trimStart().length));
  return lines
    .map((l) => l.slice(Number.isFinite(indent) ? indent : 0).trimEnd())
    .join('\n')
    .replace(/^\n+|\n+$/g, '');
}

export class ReferenceCommand extends CtrCommand {
  static override paths = [['__reference']];

  async execute(): Promise<number> {
    // Imported here: the list of commands includes this one.
    const { allCommands } = await import('../commands.js');
    const reference = { version, commands: commandReference((await allCommands()) as CommandClass<BaseContext>[]) };
    this.context.stdout.write(`${JSON.stringify(reference, null, 2)}\n`);
    return 0;
  }
}
