import { describe, expect, it } from 'vitest';
import { parseLogTime } from '../../src/engine/logs.js';
import { formatLogTime, LogParser, logTimeNs, parseLog } from '../../src/store/logs.js';

describe('container logs', () => {
  it("reads ctr's and conmon's times to the nanosecond and prints them as docker does", () => {
    expect(formatLogTime(logTimeNs('2026-11-22T16:41:38.954634560+00:00')!)).toBe('2026-11-22T16:41:38.954634560Z');
    expect(formatLogTime(logTimeNs('2026-11-22T16:41:38.954Z')!)).toBe('2026-11-22T16:41:38.954000000Z');
    expect(formatLogTime(logTimeNs('2026-11-22T18:41:38.000000001+02:00')!)).toBe('2026-11-22T16:41:38.000000001Z');
    expect(formatLogTime(logTimeNs('2026-11-22T13:41:38-03:00')!)).toBe('2026-11-22T16:41:38.000000000Z');
    expect(logTimeNs('yesterday')).toBeUndefined();
  });

  it('joins partial records with the rest of their line, stream by stream, across reads', () => {
    const p = new LogParser();
    const first = p.push(Buffer.from('T1 stdout P hel'));
    expect(first).toEqual([]);
    const more = p.push(Buffer.from('lo\nT2 stderr F oops\nT3 stdout F  world\nT4 stdout P tail\n'));
    expect(more.map((e) => [e.time, e.stream, e.data.toString()])).toEqual([
      ['T2', 'stderr', 'oops\n'],
      ['T1', 'stdout', 'hello world\n'],
    ]);
    expect(p.flush().map((e) => e.data.toString())).toEqual(['tail']);
    expect(parseLog('garbage\nT stdout F ok\nT other F no\n').map((e) => e.data.toString())).toEqual(['ok\n']);
  });

  it('keeps bytes that are not UTF-8 as they were', () => {
    const raw = Buffer.concat([Buffer.from('T stdout F '), Buffer.from([0xff, 0xfe]), Buffer.from('\n')]);
    expect(parseLog(raw)[0]!.data).toEqual(Buffer.from([0xff, 0xfe, 0x0a]));
  });

  it("takes docker's --since forms: RFC 3339 and shorter, Unix seconds, durations", () => {
    const now = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
    const ns = (ms: number) => BigInt(ms) * 1_000_000n;
    expect(parseLogTime('2026-01-02T03:04:05Z', 'f', now)).toBe(ns(Date.UTC(2026, 0, 2, 3, 4, 5)));
    expect(parseLogTime('2026-01-02T03:04:05.123456789+01:00', 'f', now)).toBe(ns(Date.UTC(2026, 0, 2, 2, 4, 5)) + 123456789n);
    expect(parseLogTime('2026-01-02', 'f', now)).toBe(ns(new Date(2026, 0, 2).getTime()));
    expect(parseLogTime('2026-01-02T03:04', 'f', now)).toBe(ns(new Date(2026, 0, 2, 3, 4).getTime()));
    expect(parseLogTime('1704207845', 'f', now)).toBe(1704207845_000_000_000n);
    expect(parseLogTime('1704207845.5', 'f', now)).toBe(1704207845_500_000_000n);
    expect(parseLogTime('0', 'f', now)).toBe(0n);
    expect(parseLogTime('10m', 'f', now)).toBe(ns(Date.UTC(2026, 0, 2, 2, 54, 5)));
    expect(parseLogTime('1h30m', 'f', now)).toBe(ns(Date.UTC(2026, 0, 2, 1, 34, 5)));
    expect(() => parseLogTime('2026-13-02', '--since', now)).toThrow(/--since takes a time/);
    expect(() => parseLogTime('soon', '--until', now)).toThrow(/--until takes a time/);
  });
});
