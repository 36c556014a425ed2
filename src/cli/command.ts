import { Command, type BaseContext } from 'clipanion';
import type { GlobalArgs } from '../main.js';

/** The base of every ctr command: carries the options given before the command name. */
export abstract class CtrCommand extends Command<CtrContext> {}

export interface CtrContext extends BaseContext {
  globals: GlobalArgs;
}

/**
 * A command class may begin work before clipanion parses its command line (~10 ms of parsing):
 * runCli calls its static prepare with the whole command line when the command's name is the only
 * candidate. It must be harmless when the command line then turns out to be wrong.
 */
export interface PreparingCommand {
  prepare(argv: string[], globals: GlobalArgs): Promise<void>;
}
