import { Builtins, Cli, UsageError } from 'clipanion';
import { CtrError } from '../errors.js';
import type { GlobalArgs } from '../main.js';
import { version } from '../version.js';
import type { CtrContext } from './command.js';
import { commands } from './commands.js';

export function makeCli(): Cli<CtrContext> {
  const cli = new Cli<CtrContext>({
    binaryLabel: 'ctr',
    binaryName: 'ctr',
    binaryVersion: version,
    enableColors: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
  });
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  for (const c of commands) cli.register(c);
  return cli;
}

/** Parses, runs one command, maps errors to docker's exit codes (125 for ctr's own). */
export async function runCli(argv: string[], globals: GlobalArgs): Promise<number> {
  const cli = makeCli();
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
  } catch (err) {
    process.stderr.write(cli.error(err, { colored: false }));
    return 125;
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
