import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { errnoCode } from '../errors.js';

export type LogStream = 'stdout' | 'stderr';

export interface LogEntry {
  time: string;
  stream: LogStream;
  /** The bytes of one line, with its newline when it had one. */
  data: Buffer;
}

/**
 * A container's log, one record per line as CRI's log format has it:
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
    let out = '';
    for (let nl = data.indexOf(10); nl >= 0; nl = data.indexOf(10)) {
      out += `${time} ${stream} F ${data.subarray(0, nl).toString('utf8')}\n`;
      data = data.subarray(nl + 1);
    }
    // A long unterminated line is written as partial records so memory stays bounded.
    if (data.length >= 16384) {
      out += `${time} ${stream} P ${data.toString('utf8')}\n`;
      data = Buffer.alloc(0);
    }
    this.rest[stream] = Buffer.from(data);
    if (out) writeSync(this.fd, out);
  }

  close(): void {
    const time = new Date().toISOString();
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.rest[stream].length) writeSync(this.fd, `${time} ${stream} P ${this.rest[stream].toString('utf8')}\n`);
    }
    closeSync(this.fd);
  }
}

/** Parses a log file (or the part of it from `offset`) into entries. */
export function parseLog(text: string): LogEntry[] {
  const entries: LogEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\S+) (stdout|stderr) ([FP]) (.*)$/s.exec(line);
    if (!m) continue;
    entries.push({ time: m[1]!, stream: m[2] as LogStream, data: Buffer.from(m[3] === 'F' ? `${m[4]}\n` : m[4]!) });
  }
  return entries;
}

export function readLog(path: string): LogEntry[] {
  try {
    return parseLog(readFileSync(path, 'utf8'));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
}
