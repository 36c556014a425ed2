import type { GlobalArgs } from '../main.js';

/**
 * Begins what a command line's command will wait for, before the command line parser and the
 * engine load (~3 ms): `run` (not with --help) starts its runtime's copy and user namespace (see
 * prepareRun). Only the command's name is looked at; it must be harmless when the rest of the
 * command line then turns out to be wrong.
 */
export async function prepareCommand(argv: string[], globals: GlobalArgs): Promise<void> {
  const named = argv[0] === 'run' || (argv[0] === 'container' && argv[1] === 'run');
  if (!named || argv.some((a) => a === '--help' || a === '-h')) return;
  const { prepareRun } = await import('../engine/prepare.js');
  // Only a guess (a command's own -d counts too): it decides what is begun, never what is done.
  prepareRun(globals, { detached: argv.some((a) => a === '--detach' || /^-[a-zA-Z]*d[a-zA-Z]*$/.test(a)) });
}
