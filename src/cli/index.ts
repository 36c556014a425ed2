import { Builtins, Cli, UsageError, type CommandClass } from 'clipanion';
import { CtrError } from '../errors.js';
import type { GlobalArgs } from '../main.js';
import { version } from '../version.js';
import type { CtrContext } from './command.js';
import { commands } from './commands.js';

/**
 * Only the commands whose path starts with the words given: building clipanion's parser for
 * every command costs tens of milliseconds on each `ctr run`. Anything else gets them all.
 */
function candidates(argv: string[]): CommandClass<CtrContext>[] {
  const [first, second] = argv;
  if (!first || first.startsWith('-')) return commands;
  const hits = commands.filter((c) => (c.paths ?? []).some((p) => p[0] === first && (p.length === 1 || p[1] === second)));
  return hits.length > 0 ? hits : commands;
}

export function makeCli(list: CommandClass<CtrContext>[] = commands): Cli<CtrContext> {
  const cli = new Cli<CtrContext>({
    binaryLabel: 'ctr',
    binaryName: 'ctr',
    binaryVersion: version,
    enableColors: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
  });
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  for (const c of list) cli.register(c);
  return cli;
}

/** Parses, runs one command, maps errors to docker's exit codes (125 for ctr's own). */
export async function runCli(argv: string[], globals: GlobalArgs): Promise<number> {
  let cli = makeCli(candidates(argv));
  const context: CtrContext = {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    colorDepth: process.stdout.isTTY && !process.env.NO_COLOR ? process.stdout.getColorDepth() : 1,
    env: process.env,
    globals,
  };
  let command;
  try {
    command = cli.process(argv, context);
  } catch {
    // Parse again with every command, for clipanion's full message and suggestions.
    cli = makeCli();
    try {
      command = cli.process(argv, context);
    } catch (err) {
      process.stderr.write(cli.error(err, { colored: false }));
      return 125;
    }
  }
  if (command.help) {
    process.stdout.write(cli.usage(command, { detailed: true }));
    return 0;
  }
  // Builtins.HelpCommand (ctr --help) prints through this.cli, which Cli.run() would have set.
  command.cli = cli as unknown as typeof command.cli;
  try {
    return (await command.validateAndExecute()) ?? 0;
  } catch (err) {
    if (err instanceof CtrError) {
      process.stderr.write(`Error: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`Error: ${err.message}\n`);
      return 125;
    }
    process.stderr.write(`Error: ${err instanceof Error ? (process.env.CTR_DEBUG ? err.stack : err.message) : String(err)}\n`);
    return 125;
  }
}
