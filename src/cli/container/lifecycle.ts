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

/**
 * Runs fn on each container in turn and prints each name done; with several containers a
 * failure is reported and the others still go on (exit code: the last failure's).
 */
export async function eachContainer(context: CtrContext, containers: string[], fn: (container: string) => Promise<unknown>): Promise<number> {
  let failed: CtrError | undefined;
  for (const container of containers) {
    try {
      await fn(container);
      context.stdout.write(`${container}\n`);
    } catch (err) {
      if (!(err instanceof CtrError) || containers.length === 1) throw err;
      context.stderr.write(`Error: ${err.message}\n`);
      failed = err;
    }
  }
  return failed ? failed.exitCode : 0;
}
