import type { CommandClass } from 'clipanion';
import type { CtrContext } from './command.js';
import { VersionCommand } from './system/version.js';

/** Every command ctr has; the man pages and completions are generated from this list. */
export const commands: CommandClass<CtrContext>[] = [VersionCommand];
