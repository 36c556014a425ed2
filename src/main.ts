import { version } from './version.js';

/** Options that go before the command name, as in `ctr --root /x images`. */
const GLOBAL_VALUE_OPTIONS = new Set(['--root', '--runroot', '--runtime']);

export interface GlobalArgs {
  root?: string;
  runroot?: string;
  runtime?: string;
}

function splitGlobals(argv: string[]): { globals: GlobalArgs; rest: string[] } {
  const globals: GlobalArgs = {};
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (!GLOBAL_VALUE_OPTIONS.has(name)) break;
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) {
      process.stderr.write(`Error: ${name} needs a value\n`);
      process.exit(125);
    }
    const key = name.slice(2).replace(/-(.)/g, (_, c: string) => c.toUpperCase()) as keyof GlobalArgs;
    globals[key] = value;
  }
  return { globals, rest: argv.slice(i) };
}

async function main(argv: string[]): Promise<void> {
  // Fast path: `ctr --version` must not load the command tree.
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
    process.stdout.write(`ctr version ${version}\n`);
    return;
  }
  const { globals, rest } = splitGlobals(argv);
  const { runCli } = await import('./cli/index.js');
  process.exitCode = await runCli(rest, globals);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 125;
});
