import { Command, type BaseContext } from 'clipanion';
import type { GlobalArgs } from '../main.js';

/** The base of every ctr command: carries the options given before the command name. */
export abstract class CtrCommand extends Command<CtrContext> {}

export interface CtrContext extends BaseContext {
  globals: GlobalArgs;
}
