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
  await (await import('./cli/prepare.js')).prepareCommand(rest, globals);
  const { runCli } = await import('./cli/index.js');
  process.exitCode = await runCli(rest, globals);
}

/**
 * Once nothing is left to run and every 'exit' listener has run, Node frees the environment and
 * V8's heap (~5 ms here), which nobody sees: exiting from the last listener skips that. Node's
 * own exit still restores the terminal and the descriptors' flags.
 */
function exitWhenDone(): void {
  const exitNow = () => {
    if (process.listeners('exit').at(-1) === exitNow) process.exit();
  };
  process.on('exit', exitNow);
}

/**
 * The build runs ctr's common commands one after the other in one process, to keep V8's code for
 * every function they compile (scripts/code-cache.mjs); their exit codes close the output.
 */
async function train(commands: string[][]): Promise<void> {
  const codes: number[] = [];
  for (const argv of commands) {
    process.exitCode = 0;
    await main(argv).catch(() => (process.exitCode = 125));
    codes.push(Number(process.exitCode));
  }
  process.exitCode = 0;
  process.stdout.write(`\nctr-code-cache-training: ${JSON.stringify(codes)}\n`);
}

const training = process.env.CTR_CODE_CACHE_TRAINING;
delete process.env.CTR_CODE_CACHE_TRAINING;
(training ? train(JSON.parse(training) as string[][]) : main(process.argv.slice(2)).then(exitWhenDone)).catch((err: unknown) => {
  process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 125;
});
