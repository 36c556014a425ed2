import { Option } from 'clipanion';
import { CtrError } from '../../errors.js';
import type { CtrContext } from '../command.js';

/** -t/--time of stop and restart (docker's name; --timeout is podman's). */
export function timeoutOption() {
  return Option.String('-t,--time,--timeout', { description: 'seconds to wait for the stop signal to work before SIGKILL (default: the container’s --stop-timeout, else 10)' });
}

export function parseTimeout(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) throw new CtrError(`-t takes whole seconds, not "${raw}"`);
  return Number(raw);
}

/** Prints what was done, one name a line, then the errors; exit 1 when there were any. */
export function report(context: CtrContext, result: { done: string[]; errors: string[] }): number {
  for (const name of result.done) context.stdout.write(`${name}\n`);
  for (const e of result.errors) context.stderr.write(`Error: ${e}\n`);
  return result.errors.length > 0 ? 1 : 0;
}
