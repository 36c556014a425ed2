import { describe, expect, test } from 'vitest';
import { CtrError } from '../../src/errors.js';
import { defaultHeader, formatTable, renderList, tabwrite } from '../../src/cli/format/table.js';

const images = [
  { ID: 'abc123def456', Repository: 'busybox', Tag: 'latest', CreatedSince: '2 weeks ago', Size: '4.26MB' },
  { ID: '0123456789ab', Repository: 'localhost:5000/team/app', Tag: 'v1', CreatedSince: '3 days ago', Size: '120MB' },
];
const headers = { ID: 'IMAGE ID', CreatedSince: 'CREATED' };
const columns = ['Repository', 'Tag', 'ID', 'CreatedSince', 'Size'];

describe('tabwrite aligns like Go tabwriter with docker settings', () => {
  test('columns are at least 10 wide and 3 spaces wider than their widest cell', () => {
    // 16 characters + 3 = 19 for the first column; the second stays at the minimum of 10.
    expect(tabwrite('A\tB\tC\nlonger-cell-here\tx\ty')).toBe(
      `${'A'.padEnd(19)}${'B'.padEnd(10)}C\n${'longer-cell-here'.padEnd(19)}${'x'.padEnd(10)}y`,
    );
  });

  test('the last cell of a line is never padded', () => {
    expect(tabwrite('a\tb\nc\td')).toBe('a         b\nc         d');
  });

  test('a line with fewer cells ends the column block', () => {
    // Line 3 has no tab, so lines 4-5 align on their own.
    expect(tabwrite('aa\tb\nccc\td\nplain\nlong-long-long\te\nf\tg')).toBe(
      'aa        b\nccc       d\nplain\nlong-long-long   e\nf                g',
    );
  });

  test('widths count characters, not bytes', () => {
    expect(tabwrite('héllo\tx\nab\ty')).toBe('héllo     x\nab        y');
  });

  test('padding and minimum width are adjustable', () => {
    expect(tabwrite('a\tb\nccc\td', { minWidth: 0, padding: 1 })).toBe('a   b\nccc d');
  });
});

describe('formatTable', () => {
  test('prints docker-aligned output with no trailing spaces', () => {
    const out = formatTable(
      [
        { header: 'REPOSITORY', value: (r: (typeof images)[0]) => r.Repository },
        { header: 'TAG', value: (r) => r.Tag },
        { header: 'IMAGE ID', value: (r) => r.ID },
        { header: 'CREATED', value: (r) => r.CreatedSince },
        { header: 'SIZE', value: (r) => r.Size },
      ],
      images,
    );
    expect(out).toBe(
      [
        'REPOSITORY                TAG       IMAGE ID       CREATED       SIZE',
        'busybox                   latest    abc123def456   2 weeks ago   4.26MB',
        'localhost:5000/team/app   v1        0123456789ab   3 days ago    120MB',
        '',
      ].join('\n'),
    );
  });

  test('an empty last column leaves no trailing spaces, and tabs in cells cannot break columns', () => {
    const out = formatTable(
      [
        { header: 'NAME', value: (r: { n: string; p: string }) => r.n },
        { header: 'PORTS', value: (r) => r.p },
      ],
      [
        { n: 'a\tb', p: '' },
        { n: 'c', p: '80/tcp' },
      ],
    );
    expect(out).toBe('NAME      PORTS\na b\nc         80/tcp\n');
  });

  test('with no rows only the header is printed; without header nothing', () => {
    const cols = [{ header: 'X', value: () => '' }];
    expect(formatTable(cols, [])).toBe('X\n');
    expect(formatTable(cols, [], { header: false })).toBe('');
  });
});

test('defaultHeader splits CamelCase into upper-case words', () => {
  expect(['ID', 'Repository', 'CreatedSince', 'RunningFor', 'IPAddress', 'LocalVolumes', 'Size'].map(defaultHeader)).toEqual([
    'ID',
    'REPOSITORY',
    'CREATED SINCE',
    'RUNNING FOR',
    'IP ADDRESS',
    'LOCAL VOLUMES',
    'SIZE',
  ]);
});

describe('renderList handles --format the way docker list commands do', () => {
  const expectedDefault = [
    'REPOSITORY                TAG       IMAGE ID       CREATED       SIZE',
    'busybox                   latest    abc123def456   2 weeks ago   4.26MB',
    'localhost:5000/team/app   v1        0123456789ab   3 days ago    120MB',
    '',
  ].join('\n');

  test('no format and "table" give the default table', () => {
    expect(renderList({ rows: images, defaultColumns: columns, headers })).toBe(expectedDefault);
    expect(renderList({ format: 'table', rows: images, defaultColumns: columns, headers })).toBe(expectedDefault);
    expect(renderList({ format: '  table  ', rows: images, defaultColumns: columns, headers })).toBe(expectedDefault);
  });

  test('explicit columns can be mixed with field names', () => {
    const out = renderList({
      rows: images,
      defaultColumns: ['Tag', { header: 'NAME', value: (r) => r.Repository.toUpperCase() }],
    });
    expect(out).toBe('TAG       NAME\nlatest    BUSYBOX\nv1        LOCALHOST:5000/TEAM/APP\n');
  });

  test('table TEMPLATE derives headers from the fields and aligns cells', () => {
    const out = renderList({ format: 'table {{.ID}}\\t{{.Repository}}:{{.Tag}}\\t{{.CreatedSince}}', rows: images, defaultColumns: columns, headers });
    expect(out).toBe(
      [
        'IMAGE ID       REPOSITORY:TAG               CREATED',
        'abc123def456   busybox:latest               2 weeks ago',
        '0123456789ab   localhost:5000/team/app:v1   3 days ago',
        '',
      ].join('\n'),
    );
  });

  test('header functions leave the header alone and nested fields name the last part', () => {
    const rows = [{ Names: 'web', Config: { Image: 'nginx' } }];
    const out = renderList({ format: 'table {{upper .Names}}\\t{{.Config.Image | json}}\\t{{truncate .Names 1}}', rows, defaultColumns: [] });
    expect(out).toBe('NAMES     IMAGE     NAMES\nWEB       "nginx"   w\n');
  });

  test('a table template with no rows prints only its header', () => {
    expect(renderList({ format: 'table {{.ID}}\\t{{.Size}}', rows: [], defaultColumns: columns, headers })).toBe('IMAGE ID   SIZE\n');
  });

  test('json prints one compact object per row with sorted keys', () => {
    const out = renderList({ format: 'json', rows: images, defaultColumns: columns });
    const lines = out.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe('{"CreatedSince":"2 weeks ago","ID":"abc123def456","Repository":"busybox","Size":"4.26MB","Tag":"latest"}');
    expect(JSON.parse(lines[1] as string)).toEqual(images[1]);
  });

  test('json includes the getters of class rows', () => {
    class Row {
      get Name() {
        return 'n';
      }
      ID = 'i';
    }
    expect(renderList({ format: 'json', rows: [new Row()], defaultColumns: [] })).toBe('{"ID":"i","Name":"n"}\n');
  });

  test('any other template prints one line per row, without header', () => {
    expect(renderList({ format: '{{.Repository}}:{{.Tag}}', rows: images, defaultColumns: columns })).toBe(
      'busybox:latest\nlocalhost:5000/team/app:v1\n',
    );
    expect(renderList({ format: '{{.ID}}\\t{{.Size}}', rows: images.slice(0, 1), defaultColumns: columns })).toBe('abc123def456\t4.26MB\n');
    expect(renderList({ format: '{{.ID}}', rows: [], defaultColumns: columns })).toBe('');
  });

  test('quiet prints the quiet field, but a custom format wins as in docker', () => {
    expect(renderList({ quiet: true, rows: images, defaultColumns: columns })).toBe('abc123def456\n0123456789ab\n');
    expect(renderList({ quiet: true, quietField: 'Tag', format: 'table', rows: images, defaultColumns: columns })).toBe('latest\nv1\n');
    expect(renderList({ quiet: true, format: '{{.Tag}}', rows: images, defaultColumns: columns })).toBe('latest\nv1\n');
  });

  test('template errors surface as CtrError', () => {
    expect(() => renderList({ format: '{{.ID', rows: images, defaultColumns: columns })).toThrow(CtrError);
    expect(() => renderList({ format: 'table {{nope .ID}}', rows: images, defaultColumns: columns })).toThrow(/function "nope" not defined/);
  });
});
