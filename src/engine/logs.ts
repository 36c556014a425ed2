import { closeSync, existsSync, openSync, readSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { CtrError, errnoCode } from '../errors.js';
import { LogParser, logTimeNs, type LogEntry } from '../store/logs.js';
import type { ContainerRecord } from '../store/containers.js';
import type { Store } from '../store/store.js';
import { findContainer, isAlive, reconcile } from './containers.js';
import { openEngine, type EngineOptions } from './context.js';
import { parseDuration } from '../units.js';

export interface LogsOptions extends EngineOptions {
  container: string;
  /** Keep printing what the container prints until it stops. */
  follow?: boolean;
  /** Only the last N lines (undefined: everything). */
  tail?: number;
  /** Only entries at or after / at or before these times: docker's forms (RFC 3339, Unix seconds, a duration ago). */
  since?: string;
  until?: string;
  signal?: AbortSignal;
}

export type { LogEntry };

const CHUNK = 1 << 20;
// How often a follower looks whether the container has stopped (output itself wakes it at once).
const POLL_MS = 200;
// conmon may still be writing the last output when the container's process is gone.
const DRAIN_MS = 1000;

/** What a container printed, stream by stream, oldest first; with follow, until it stops. */
export async function* containerLogs(opts: LogsOptions): AsyncGenerator<LogEntry> {
  const { store } = openEngine(opts);
  const now = Date.now();
  const since = opts.since === undefined ? undefined : parseLogTime(opts.since, '--since', now);
  const until = opts.until === undefined ? undefined : parseLogTime(opts.until, '--until', now);
  const c = findContainer(await reconcile(store), opts.container);
  if (!c) throw new CtrError(`no such container: ${opts.container}`);
  const file = join(store.containers.path(c.id), 'ctr.log');
  const keep = (e: LogEntry) => {
    const t = logTimeNs(e.time);
    if (t === undefined) return since === undefined && until === undefined;
    return (since === undefined || t >= since) && (until === undefined || t <= until);
  };
  const reader = new LogFile(file);

  const following = opts.follow === true && isRunning(c);
  // docker takes the last lines first, then the ones in the time window among them.
  let entries = reader.read(false, opts.tail);
  if (!following) entries.push(...reader.flush());
  if (opts.tail !== undefined) entries = opts.tail === 0 ? [] : entries.slice(-opts.tail);
  yield* entries.filter(keep);
  if (!following) return;

  let wake: (() => void) | undefined;
  let watcher: FSWatcher | undefined;
  const watchLog = () => {
    try {
      watcher = watch(file, { persistent: false }, () => wake?.());
    } catch {
      watcher = undefined;
    }
  };
  watchLog();
  try {
    for (;;) {
      yield* reader.read(true).filter(keep);
      if (opts.signal?.aborted || (until !== undefined && BigInt(Date.now()) * 1_000_000n > until)) return;
      if (!stillRunning(store, c)) break;
      if (!watcher && existsSync(file)) watchLog();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, POLL_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
    await drained(store, c);
    yield* [...reader.read(false), ...reader.flush()].filter(keep);
  } finally {
    watcher?.close();
  }
}

function isRunning(c: ContainerRecord): boolean {
  return (c.state.status === 'running' || c.state.status === 'paused') && isAlive(c);
}

/** Whether the container the follower started with still runs: not removed, not exited, no exit file. */
function stillRunning(store: Store, c: ContainerRecord): boolean {
  const now = store.containers.list().find((x) => x.id === c.id);
  if (!now || !isRunning(now) || now.state.startedAt !== c.state.startedAt) return false;
  return !existsSync(store.monitorPaths(c.id).exitFile);
}

/**
 * The container's last output is in the log once its monitor wrote the exit file (conmon), or
 * once the foreground ctr that ran it recorded the exit (it closes the log first).
 */
async function drained(store: Store, c: ContainerRecord): Promise<void> {
  const paths = store.monitorPaths(c.id);
  const monitored = existsSync(paths.conmonPid);
  const done = () =>
    monitored ? existsSync(paths.exitFile) : store.containers.list().find((x) => x.id === c.id)?.state.status !== 'running';
  const deadline = Date.now() + DRAIN_MS;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/** Reads a log file from where the last read stopped; with a tail, keeps only what it needs in memory. */
class LogFile {
  private offset = 0;
  private readonly parser = new LogParser();

  constructor(private readonly path: string) {}

  /** Whole entries appended since the last read; partial lines too when `partials`. */
  read(partials: boolean, keepLast?: number): LogEntry[] {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
    let out: LogEntry[] = [];
    try {
      const buf = Buffer.alloc(CHUNK);
      for (;;) {
        const n = readSync(fd, buf, 0, CHUNK, this.offset);
        if (n === 0) break;
        this.offset += n;
        out.push(...this.parser.push(buf.subarray(0, n)));
        if (keepLast !== undefined && out.length > keepLast * 2 + 1024) out = out.slice(-keepLast - 1024);
      }
    } finally {
      closeSync(fd);
    }
    if (partials) out.push(...this.parser.flush());
    return out;
  }

  flush(): LogEntry[] {
    return this.parser.flush();
  }
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?(Z|z|[+-]\d{2}:\d{2})?$/;

/**
 * A time as docker's --since/--until take it, in nanoseconds since the epoch: RFC 3339 and its
 * shorter forms (a time without an offset is local), Unix seconds with an optional fraction, or
 * a Go duration meaning that long before now (whole seconds, as docker rounds it).
 */
export function parseLogTime(value: string, flag: string, now: number = Date.now()): bigint {
  if (value !== '0' && /^[-+]?(\d*\.?\d+(ns|us|\u00b5s|\u03bcs|ms|s|m|h))+$/.test(value)) {
    return BigInt(Math.floor((now - parseDuration(value)) / 1000)) * 1_000_000_000n;
  }
  const unix = /^(\d+)(?:\.(\d{1,9}))?$/.exec(value);
  if (unix) return BigInt(unix[1]!) * 1_000_000_000n + BigInt((unix[2] ?? '').padEnd(9, '0'));
  const m = DATE_TIME.exec(value);
  if (m) {
    const [y, mo, d, h = '0', mi = '0', s = '0'] = m.slice(1, 7).map((x) => x ?? '0');
    const fields = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)] as const;
    const valid = fields[1] < 12 && fields[2] >= 1 && fields[2] <= 31 && fields[3] < 24 && fields[4] < 60 && fields[5] < 60;
    if (valid) {
      let ms: number;
      if (m[8] === undefined) {
        ms = new Date(...fields).getTime();
      } else {
        ms = Date.UTC(...fields);
        if (m[8] !== 'Z' && m[8] !== 'z') ms -= (m[8][0] === '-' ? -1 : 1) * (Number(m[8].slice(1, 3)) * 60 + Number(m[8].slice(4, 6))) * 60_000;
      }
      return BigInt(ms) * 1_000_000n + BigInt((m[7] ?? '').padEnd(9, '0'));
    }
  }
  throw new CtrError(`${flag} takes a time (2024-01-02T15:04:05Z), Unix seconds (1704207845) or a duration before now (10m), not "${value}"`);
}
