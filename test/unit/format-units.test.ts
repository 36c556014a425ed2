import { describe, expect, test } from 'vitest';
import { CtrError } from '../../src/errors.js';
import { humanDuration, humanSize, parseDuration, parseSize, timeAgo } from '../../src/cli/format/units.js';

const KB = 1000;
const MB = 1000 * KB;
const GB = 1000 * MB;
const TB = 1000 * GB;
const PB = 1000 * TB;
const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;
const PiB = 1024 * TiB;

describe('humanSize prints sizes as docker images does (3 significant digits)', () => {
  test.each([
    [0, '0B'],
    [1, '1B'],
    [999, '999B'],
    [1000, '1kB'],
    [1024, '1.02kB'],
    [857_000, '857kB'],
    [999_499, '999kB'],
    // go-units' quirk: 999.999 rounds to 1000 with %.3g, which Go writes as 1e+03.
    [999_999, '1e+03kB'],
    [1_000_000, '1MB'],
    [1_048_576, '1.05MB'],
    [4_260_000, '4.26MB'],
    [4_261_234, '4.26MB'],
    [10_500_000, '10.5MB'],
    [123_456_789, '123MB'],
    [1_200_000_000, '1.2GB'],
    // 1.125 is exact in binary: Go rounds the tie to even.
    [1125, '1.12kB'],
    // 1.135 is stored as 1.13500000000000000888...: above the tie, so up.
    [1135, '1.14kB'],
    [1145, '1.15kB'],
  ])('%d -> %s', (bytes, text) => {
    expect(humanSize(bytes)).toBe(text);
  });

  test.each([
    [1000, '1kB'],
    [1024, '1.024kB'],
    [1_000_000, '1MB'],
    [1_048_576, '1.049MB'],
    [2 * MB, '2MB'],
    [3.42 * GB, '3.42GB'],
    [5.372 * TB, '5.372TB'],
    [2.22 * PB, '2.22PB'],
    [10_000_000_000_000 * PB, '1e+04YB'],
  ])('with go-units HumanSize precision 4: %d -> %s', (bytes, text) => {
    expect(humanSize(bytes, 4)).toBe(text);
  });
});

describe('humanDuration follows go-units HumanDuration', () => {
  const s = 1000;
  const m = 60 * s;
  const h = 60 * m;
  const d = 24 * h;
  test.each([
    [-5 * s, 'Less than a second'],
    [0, 'Less than a second'],
    [999, 'Less than a second'],
    [1 * s, '1 second'],
    [1999, '1 second'],
    [2 * s, '2 seconds'],
    [59 * s + 999, '59 seconds'],
    [60 * s, 'About a minute'],
    [2 * m - 1, 'About a minute'],
    [2 * m, '2 minutes'],
    [59 * m + 59 * s, '59 minutes'],
    [60 * m, 'About an hour'],
    [89 * m, 'About an hour'],
    [90 * m, '2 hours'],
    [47 * h + 29 * m, '47 hours'],
    [47 * h + 30 * m, '2 days'],
    [13 * d + 23 * h, '13 days'],
    [14 * d, '2 weeks'],
    [59 * d, '8 weeks'],
    [60 * d, '2 months'],
    [729 * d, '24 months'],
    [730 * d, '2 years'],
    [3650 * d, '10 years'],
  ])('%d ms -> %s', (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });

  test('timeAgo appends "ago"', () => {
    const now = new Date('2024-05-01T12:00:00Z');
    expect(timeAgo(new Date('2024-05-01T11:55:00Z'), now)).toBe('5 minutes ago');
    expect(timeAgo(now.getTime() - 3 * 24 * 3600 * 1000, now.getTime())).toBe('3 days ago');
  });
});

describe('parseSize reads memory sizes like docker (RAMInBytes)', () => {
  test.each([
    ['32', 32],
    ['32b', 32],
    ['32B', 32],
    ['32k', 32 * KiB],
    ['32K', 32 * KiB],
    ['32kb', 32 * KiB],
    ['32Kb', 32 * KiB],
    ['32Kib', 32 * KiB],
    ['32KIB', 32 * KiB],
    ['32Mb', 32 * MiB],
    ['32Gb', 32 * GiB],
    ['32Tb', 32 * TiB],
    ['32Pb', 32 * PiB],
    ['32PB', 32 * PiB],
    ['32P', 32 * PiB],
    ['512m', 512 * MiB],
    ['1.5g', 1.5 * GiB],
    ['32.3', 32],
    ['32.3 mb', Math.trunc(32.3 * MiB)],
    ['0.3MB', Math.trunc(0.3 * MiB)],
    ['.5k', 512],
    ['0 ', 0],
    ['-0', 0],
  ])('%j -> %d', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  test.each(['', 'hello', '-32', ' 32 ', '32m b', '32bm', '32  b', '32kbb', '.', '32x'])('%j is rejected', (text) => {
    expect(() => parseSize(text)).toThrow(CtrError);
  });

  test('the error says what was wrong and what to write', () => {
    expect(() => parseSize('32x')).toThrow('invalid size "32x": unknown unit "x"; use a number with an optional unit b, k, m, g, t or p, e.g. 512m');
  });
});

describe('parseDuration reads Go durations into milliseconds', () => {
  test.each([
    ['10s', 10_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['2h45m30.5s', 9_930_500],
    ['300ms', 300],
    ['1500us', 1.5],
    ['1500µs', 1.5],
    ['2000000ns', 2],
    ['-5m', -300_000],
    ['+5s', 5000],
    ['0', 0],
    ['.5s', 500],
    ['5.s', 5000],
  ])('%s -> %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  test.each(['', '10', '1d', 'h', '.s', '1h-5m', 'abc', '-'])('%j is rejected', (text) => {
    expect(() => parseDuration(text)).toThrow(CtrError);
  });

  test('a number without unit is named as such', () => {
    expect(() => parseDuration('10')).toThrow(/missing unit/);
  });
});
