import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { errnoCode } from '../errors.js';

export type LogStream = 'stdout' | 'stderr';

export interface LogEntry {
  /** The record's time as written (RFC 3339, any fraction, Z or an offset). */
  time: string;
  stream: LogStream;
  /** The bytes of one line, with its newline when it had one. */
  data: Buffer;
}

/**
 * A container's log, one record per line as CRI's log format has it (conmon's k8s-file too):
 * `TIME STREAM F|P CONTENT` (P: a partial line, continued by the next record), so the streams
 * stay apart and every line keeps its time.
 */
export class LogWriter {
  private readonly fd: number;
  private readonly rest: Record<LogStream, Buffer> = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };

  constructor(path: string) {
    this.fd = openSync(path, 'a', 0o600);
  }

  write(stream: LogStream, chunk: Buffer): void {
    let data = this.rest[stream].length ? Buffer.concat([this.rest[stream], chunk]) : chunk;
    const time = new Date().toISOString();
    const out: Buffer[] = [];
    for (let nl = data.indexOf(10); nl >= 0; nl = data.indexOf(10)) {
      out.push(Buffer.from(`${time} ${stream} F `), data.subarray(0, nl + 1));
      data = data.subarray(nl + 1);
    }
    // A long unterminated line is written as partial records so memory stays bounded.
    if (data.length >= 16384) {
      out.push(Buffer.from(`${time} ${stream} P `), data, Buffer.from('\n'));
      data = Buffer.alloc(0);
    }
    this.rest[stream] = Buffer.from(data);
    if (out.length) writeSync(this.fd, Buffer.concat(out));
  }

  close(): void {
    const time = new Date().toISOString();
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.rest[stream].length) writeSync(this.fd, Buffer.concat([Buffer.from(`${time} ${stream} P `), this.rest[stream], Buffer.from('\n')]));
    }
    closeSync(this.fd);
  }
}

const TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/** Nanoseconds since the epoch of a record's time: ctr writes milliseconds and Z, conmon nanoseconds and +00:00. */
export function logTimeNs(time: string): bigint | undefined {
  const m = TIME.exec(time);
  if (!m) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  let ns = BigInt(ms) * 1_000_000n + BigInt((m[7] ?? '').padEnd(9, '0'));
  if (m[8] !== 'Z') {
    const sign = m[8]![0] === '-' ? -1n : 1n;
    ns -= sign * (BigInt(m[8]!.slice(1, 3)) * 3600n + BigInt(m[8]!.slice(4, 6)) * 60n) * 1_000_000_000n;
  }
  return ns;
}

/** docker's `logs -t` time: UTC with nine fraction digits (RFC3339NanoFixed). */
export function formatLogTime(ns: bigint): string {
  const seconds = ns / 1_000_000_000n - (ns < 0n && ns % 1_000_000_000n !== 0n ? 1n : 0n);
  const frac = ns - seconds * 1_000_000_000n;
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}.${String(frac).padStart(9, '0')}Z`;
}

/**
 * Parses a log as it grows: push() the bytes read so far, get the whole lines. Partial records
 * (P) are joined with what follows on their stream into one entry with the first one's time;
 * flush() hands out the ones still open (a line the container has not ended yet).
 */
export class LogParser {
  private rest = Buffer.alloc(0);
  private readonly open = new Map<LogStream, { time: string; parts: Buffer[] }>();

  push(chunk: Buffer): LogEntry[] {
    const data = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    const out: LogEntry[] = [];
    let start = 0;
    for (let nl = data.indexOf(10, start); nl >= 0; nl = data.indexOf(10, start)) {
      this.record(data.subarray(start, nl), out);
      start = nl + 1;
    }
    this.rest = Buffer.from(data.subarray(start));
    return out;
  }

  flush(): LogEntry[] {
    const out: LogEntry[] = [];
    for (const [stream, p] of this.open) out.push({ time: p.time, stream, data: Buffer.concat(p.parts) });
    this.open.clear();
    return out;
  }

  private record(line: Buffer, out: LogEntry[]): void {
    const s1 = line.indexOf(32);
    const s2 = s1 < 0 ? -1 : line.indexOf(32, s1 + 1);
    if (s2 < 0 || line.length < s2 + 2 || (line.length > s2 + 2 && line[s2 + 2] !== 32)) return;
    const stream = line.toString('latin1', s1 + 1, s2);
    const tag = String.fromCharCode(line[s2 + 1]!);
    if ((stream !== 'stdout' && stream !== 'stderr') || (tag !== 'F' && tag !== 'P')) return;
    const time = line.toString('latin1', 0, s1);
    const content = line.subarray(Math.min(s2 + 3, line.length));
    const open = this.open.get(stream);
    if (tag === 'P') {
      if (open) open.parts.push(Buffer.from(content));
      else this.open.set(stream, { time, parts: [Buffer.from(content)] });
      return;
    }
    this.open.delete(stream);
    const parts = open ? [...open.parts, content, NEWLINE] : [content, NEWLINE];
    out.push({ time: open?.time ?? time, stream, data: Buffer.concat(parts) });
  }
}

const NEWLINE = Buffer.from('\n');

/** Parses a whole log into entries. */
export function parseLog(text: string | Buffer): LogEntry[] {
  const parser = new LogParser();
  const entries = parser.push(typeof text === 'string' ? Buffer.from(text) : text);
  parser.push(NEWLINE);
  return [...entries, ...parser.flush()];
}

export function readLog(path: string): LogEntry[] {
  try {
    return parseLog(readFileSync(path));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
}
