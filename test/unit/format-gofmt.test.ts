import { describe, expect, test } from 'vitest';
import { formatFloat, formatValue, goQuote, jsonString, sprint, sprintf } from '../../src/cli/format/gofmt.js';

describe('formatFloat matches strconv.FormatFloat', () => {
  test.each([
    [999.999, 'g', 3, '1e+03'],
    [1, 'g', 3, '1'],
    [100, 'g', 3, '100'],
    [0, 'g', 3, '0'],
    [0.0001234, 'g', 3, '0.000123'],
    [0.00001234, 'g', 3, '1.23e-05'],
    [123456, 'g', 3, '1.23e+05'],
    [1.125, 'g', 3, '1.12'],
    [1e6, 'g', -1, '1e+06'],
    [123456, 'g', -1, '123456'],
    [1234567, 'g', -1, '1.234567e+06'],
    [0.0001, 'g', -1, '0.0001'],
    [0.00001, 'g', -1, '1e-05'],
    [1.5, 'g', -1, '1.5'],
    [-1.5, 'g', -1, '-1.5'],
    [-0, 'g', -1, '-0'],
    [1e100, 'g', -1, '1e+100'],
    [1.005, 'f', 2, '1.00'],
    [2.675, 'f', 2, '2.67'],
    [0.125, 'f', 2, '0.12'],
    [0.375, 'f', 2, '0.38'],
    [0.006, 'f', 2, '0.01'],
    [0.0004, 'f', 2, '0.00'],
    [1e21, 'f', 0, '1000000000000000000000'],
    [1.5, 'f', -1, '1.5'],
    [1234.5678, 'e', 3, '1.235e+03'],
    [0, 'e', 3, '0.000e+00'],
    [1e-10, 'e', -1, '1e-10'],
    [5e-324, 'g', -1, '5e-324'],
    [NaN, 'g', -1, 'NaN'],
    [Infinity, 'f', 2, '+Inf'],
    [-Infinity, 'e', 2, '-Inf'],
  ] as const)('%d %s %d -> %s', (x, fmt, prec, text) => {
    expect(formatFloat(x, fmt, prec)).toBe(text);
  });
});

describe('sprintf follows fmt.Sprintf', () => {
  test.each([
    ['%s|%5s|%-5s|%.2s', ['a', 'b', 'c', 'xyz'], 'a|    b|c    |xy'],
    ['%d|%+d|%05d|%-4d|%x|%X|%#x|%o|%b', [1, 2, -3, 4, 255, -255, 255, 8, 5], '1|+2|-0003|4   |ff|-FF|0xff|10|101'],
    ['%f|%.1f|%08.3f|%+.2e|%g|%G', [1.5, 0.25, -3.14159, 12345.678, 0.000001, 1e-7], '1.500000|0.2|-003.142|+1.23e+04|1e-06|1E-07'],
    ['%v|%v|%v|%v', [[1, 'a'], { b: 1, a: [2] }, null, true], '[1 a]|map[a:[2] b:1]|<nil>|true'],
    ['%q|%q|%#q', ['a"b\n', 65, 'raw'], '"a\\"b\\n"|\'A\'|`raw`'],
    ['%t|%c|%U|%T|%T|%%', [false, 0x263a, 0x1f600, 'x', 1.5], 'false|☺|U+1F600|string|float64|%'],
    ['%x|%X', ['hi', 'hi'], '6869|6869'],
    ['%*d|%-*d|', [4, 7, 3, 8], '   7|8  |'],
    ['%d %d', [1], '1 %!d(MISSING)'],
    ['%d', [1, 'x', 2], '1%!(EXTRA string=x, int=2)'],
    ['%d|%s|%z', [1.5, 3, 1], '%!d(float64=1.5)|%!s(int=3)|%!z(int=1)'],
    ['%s', [['a', 'b']], '[a b]'],
    ['%d', [[1, 2]], '[1 2]'],
    ['100%', [], '100%!(NOVERB)'],
  ] as [string, unknown[], string][])('%s', (format, args, text) => {
    expect(sprintf(format, args)).toBe(text);
  });

  test('sprint adds spaces only between non-string operands', () => {
    expect(sprint([1, 2, 'a', 'b', 3, null])).toBe('1 2ab3 <nil>');
  });
});

test('formatValue prints structs, maps and times as Go does', () => {
  class Port {
    constructor(
      readonly Private: number,
      readonly Type: string,
    ) {}
  }
  expect(formatValue(new Port(80, 'tcp'))).toBe('{80 tcp}');
  expect(formatValue({ z: { y: 1, x: 2 }, a: '' })).toBe('map[a: z:map[x:2 y:1]]');
  expect(formatValue(new Date('2024-05-01T10:20:30.500Z'))).toBe('2024-05-01 10:20:30.5 +0000 UTC');
  expect(formatValue(new Map([['k', 'v']]))).toBe('map[k:v]');
});

test('goQuote writes Go string literals', () => {
  expect(goQuote('a"b\\c\n\t\x01\x7fé☺')).toBe('"a\\"b\\\\c\\n\\t\\x01\\x7fé☺"');
});

test('jsonString is compact, keeps order, does not escape HTML, and escapes line separators', () => {
  expect(jsonString({ b: 1, a: ['<&>', null] })).toBe('{"b":1,"a":["<&>",null]}');
  expect(jsonString(undefined)).toBe('null');
  expect(jsonString('\u2028')).toBe('"\\u2028"');
  expect(jsonString(new Map([['k', 1]]))).toBe('{"k":1}');
});
