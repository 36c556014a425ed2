import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseLog, type LogEntry } from '../store/logs.js';
import { isAlive, resolveContainer } from './containers.js';
import { openEngine, type EngineOptions } from './context.js';

export interface LogsOptions extends EngineOptions {
  container: string;
  follow?: boolean;
  /** Only the last N lines ('all' or undefined: everything). */
  tail?: number;
  /** Only entries at or after / before these times (ms since the epoch). */
  since?: number;
  until?: number;
  signal?: AbortSignal;
}

/** What a container printed, stream by stream, oldest first; with follow, until it stops. */
export async function* containerLogs(opts: LogsOptions): AsyncGenerator<LogEntry> {
  const { store } = openEngine(opts);
  const c = resolveContainer(store, opts.container);
  const file = join(store.containers.path(c.id), 'ctr.log');
  const keep = (e: LogEntry) => {
    const t = Date.parse(e.time);
    return (opts.since === undefined || t >= opts.since) && (opts.until === undefined || t < opts.until);
  };
  let offset = 0;
  let pending = '';
  const readMore = (): LogEntry[] => {
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      return [];
    }
    if (size <= offset) return [];
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(size - offset);
      const n = readSync(fd, buf, 0, buf.length, offset);
      offset += n;
      const text = pending + buf.subarray(0, n).toString('utf8');
      const cut = text.lastIndexOf('\n') + 1;
      pending = text.slice(cut);
      return parseLog(text.slice(0, cut)).filter(keep);
    } finally {
      closeSync(fd);
    }
  };
  let entries = readMore();
  if (opts.tail !== undefined) entries = opts.tail === 0 ? [] : entries.slice(-opts.tail);
  yield* entries;
  if (!opts.follow) return;
  for (;;) {
    const current = store.containers.list().find((x) => x.id === c.id);
    const running = current !== undefined && (current.state.status === 'running' || current.state.status === 'paused') && isAlive(current);
    yield* readMore();
    if (!running || opts.signal?.aborted) return;
    await sleep(100);
  }
}
