import { Builtins, Cli, UsageError, type CommandClass } from 'clipanion';
import { CtrError } from '../errors.js';
import type { GlobalArgs } from '../main.js';
import { version } from '../version.js';
import type { CtrContext } from './command.js';
import { allCommands, candidateCommands } from './commands.js';
import { fastParse } from './fast-parse.js';

export function makeCli(list: CommandClass<CtrContext>[]): Cli<CtrContext> {
  const cli = new Cli<CtrContext>({ binaryLabel: 'ctr', binaryName: 'ctr', binaryVersion: version });
  // Asked only when help or an error is printed: opening standard output costs ~4 ms.
  Object.defineProperty(cli, 'enableColors', { get: () => Boolean(process.stdout.isTTY) && !process.env.NO_COLOR });
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  for (const c of list) cli.register(c);
  return cli;
}

/** Parses, runs one command, maps errors to docker's exit codes (125 for ctr's own). */
export async function runCli(argv: string[], globals: GlobalArgs): Promise<number> {
  const candidates = await candidateCommands(argv);
  // Getters: opening standard input costs milliseconds, and most commands never read it.
  const context: CtrContext = {
    get stdin() {
      return process.stdin;
    },
    get stdout() {
      return process.stdout;
    },
    get stderr() {
      return process.stderr;
    },
    get colorDepth() {
      return process.stdout.isTTY && !process.env.NO_COLOR ? process.stdout.getColorDepth() : 1;
    },
    env: process.env,
    globals,
  };
  // Made only when used: a plain command line of one command is parsed without it (fastParse).
  let cli: Cli<CtrContext> | undefined;
  const getCli = () => (cli ??= makeCli(candidates));
  let command = candidates.length === 1 ? fastParse(candidates[0]!, argv, context) : undefined;
  if (command === undefined) {
    const first = getCli();
    try {
      command = first.process(argv, context);
    } catch {
      try {
        // Parse again with every command, for clipanion's full message and suggestions.
        cli = makeCli(await allCommands());
        command = cli.process(argv, context);
      } catch (err) {
        process.stderr.write(getCli().error(err, { colored: false }));
        return 125;
      }
    }
  }
  if (command.help) {
    process.stdout.write(getCli().usage(command, { detailed: true }));
    return 0;
  }
  // Builtins.HelpCommand (ctr --help) prints through this.cli, which Cli.run() would have set; no
  // command of ctr's own reads it, so it is made on first use.
  Object.defineProperty(command, 'cli', { get: getCli, configurable: true, enumerable: true });
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
