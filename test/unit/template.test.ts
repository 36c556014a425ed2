import { describe, expect, test } from 'vitest';
import { CtrError } from '../../src/errors.js';
import { compileTemplate, isTrue, parseTemplate } from '../../src/cli/format/template.js';

const run = (text: string, data: unknown = {}) => compileTemplate(text)(data);

function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CtrError);
    return (e as CtrError).message;
  }
  throw new Error('expected an error');
}

const image = {
  ID: 'sha256:abc',
  RepoTags: ['busybox:latest', 'busybox:1.36'],
  Config: { Env: ['PATH=/bin', 'HOME=/root'], Labels: { maintainer: 'me', 'org.version': '1' }, Cmd: ['sh'] },
  Size: 4261234,
  Empty: [],
  Nothing: null,
};

describe('fields and literal text', () => {
  test('prints fields, nested fields and dot', () => {
    expect(run('id={{.ID}} cmd={{.Config.Cmd}}', image)).toBe('id=sha256:abc cmd=[sh]');
    expect(run('{{.}}', 'plain')).toBe('plain');
    expect(run('no actions at all')).toBe('no actions at all');
  });

  test('a missing key prints <no value>, also deeper down', () => {
    expect(run('{{.Missing}}|{{.Missing.Deeper}}|{{.Config.Nope}}', image)).toBe('<no value>|<no value>|<no value>');
  });

  test('a nil value prints <nil>, and reading a field of it fails as in Go', () => {
    expect(run('{{.Nothing}}', image)).toBe('<nil>');
    expect(failure(() => run('{{.Nothing.Status}}', image))).toContain('nil pointer evaluating .Nothing.Status');
  });

  test('field lookup is case-sensitive', () => {
    expect(run('{{.id}}', image)).toBe('<no value>');
  });

  test('values print as Go prints them: maps sorted, slices spaced, floats %v', () => {
    expect(run('{{.Config.Labels}}', image)).toBe('map[maintainer:me org.version:1]');
    expect(run('{{.A}} {{.B}} {{.C}} {{.D}} {{.E}}', { A: 1.5, B: 1e6 + 0.5, C: 1234567.5, D: true, E: [1, 'a', null] })).toBe(
      '1.5 1.0000005e+06 1.2345675e+06 true [1 a <nil>]',
    );
  });

  test('getters and methods of data objects are fields', () => {
    class Row {
      constructor(private readonly id: string) {}
      get ID() {
        return this.id.slice(0, 3);
      }
      Short(n: number) {
        return this.id.slice(0, n);
      }
    }
    expect(run('{{.ID}} {{.Short 2}} {{2 | .Short}}', new Row('abcdef'))).toBe('abc ab ab');
    expect(failure(() => run('{{.Nope}}', new Row('x')))).toContain("can't evaluate field Nope");
  });

  test('\\t and \\n typed in the shell become tab and newline', () => {
    expect(run('{{.ID}}\\t{{.Size}}\\n', image)).toBe('sha256:abc\t4261234\n');
    expect(compileTemplate('a\\tb', { escapes: false })({})).toBe('a\\tb');
  });

  test('quoted strings keep Go escapes', () => {
    expect(run('{{"a\\tb\\u00e9\\x41"}}')).toBe('a\tbéA');
    expect(run('{{`raw\\t`}}')).toBe('raw\\t');
  });
});

describe('trim markers and comments', () => {
  test('{{- and -}} eat the whitespace next to them', () => {
    expect(run('a  \n {{- .X -}} \n\t b', { X: 'x' })).toBe('axb');
    expect(run('a {{- .X}} b', { X: 'x' })).toBe('ax b');
  });

  test('trim markers also eat tabs and newlines typed as \\t and \\n', () => {
    expect(run('{{.A}}\\t\\n {{- .B}}', { A: 'a', B: 'b' })).toBe('ab');
  });

  test('a minus without a space is a negative number, not a trim marker', () => {
    expect(run('a {{-3}} b')).toBe('a -3 b');
  });

  test('comments print nothing', () => {
    expect(run('a{{/* hidden */}}b{{- /* trimmed */ -}}  c')).toBe('abc');
  });
});

describe('control structures', () => {
  test('range rebinds dot; else runs on empty or missing lists', () => {
    expect(run('{{range .RepoTags}}[{{.}}]{{end}}', image)).toBe('[busybox:latest][busybox:1.36]');
    expect(run('{{range .Empty}}x{{else}}none{{end}}', image)).toBe('none');
    expect(run('{{range .Missing}}x{{else}}none{{end}}', image)).toBe('none');
  });

  test('range with index and value variables, and over maps in key order', () => {
    expect(run('{{range $i, $t := .RepoTags}}{{$i}}:{{$t}} {{end}}', image)).toBe('0:busybox:latest 1:busybox:1.36 ');
    expect(run('{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}', image)).toBe('maintainer=me;org.version=1;');
    expect(run('{{range $v := .RepoTags}}{{$v}},{{end}}', image)).toBe('busybox:latest,busybox:1.36,');
    expect(run('{{range 3}}{{.}}{{end}}')).toBe('012');
  });

  test('$ is the root inside range', () => {
    expect(run('{{range .RepoTags}}{{$.ID}} {{end}}', image)).toBe('sha256:abc sha256:abc ');
  });

  test('nested range and if', () => {
    const data = { Groups: [{ Name: 'a', Items: [1, 0, 2] }, { Name: 'b', Items: [] }] };
    const text = '{{range .Groups}}{{.Name}}:{{range .Items}}{{if .}}{{.}}{{else}}z{{end}}{{else}}empty{{end}};{{end}}';
    expect(run(text, data)).toBe('a:1z2;b:empty;');
  });

  test('if / else if / else', () => {
    const t = compileTemplate('{{if eq .S "a"}}A{{else if eq .S "b"}}B{{else}}other{{end}}');
    expect([t({ S: 'a' }), t({ S: 'b' }), t({ S: 'c' })]).toEqual(['A', 'B', 'other']);
  });

  test('if follows Go truth', () => {
    const t = compileTemplate('{{if .V}}T{{else}}F{{end}}');
    const values = [true, false, 0, 1, '', 'x', [], [0], {}, { a: 1 }, null, undefined];
    expect(values.map((V) => t({ V }))).toEqual(['T', 'F', 'F', 'T', 'F', 'T', 'F', 'T', 'F', 'T', 'F', 'F']);
    expect(isTrue(new Date())).toBe(true);
  });

  test('with rebinds dot and has else and else with', () => {
    expect(run('{{with .Config}}{{.Cmd}}{{end}}', image)).toBe('[sh]');
    expect(run('{{with .Missing}}x{{else}}none{{end}}', image)).toBe('none');
    expect(run('{{with .Missing}}x{{else with .Config.Labels}}{{.maintainer}}{{end}}', image)).toBe('me');
  });

  test('break and continue in range', () => {
    const data = { L: [1, 2, 3, 4] };
    expect(run('{{range .L}}{{if eq . 3}}{{break}}{{end}}{{.}}{{end}}', data)).toBe('12');
    expect(run('{{range .L}}{{if eq . 2}}{{continue}}{{end}}{{.}}{{end}}', data)).toBe('134');
  });

  test('variables: declaration, assignment across range, scope ends at end', () => {
    expect(run('{{$x := .ID}}{{$x}}', image)).toBe('sha256:abc');
    expect(run('{{$n := 0}}{{range .RepoTags}}{{$n = .}}{{end}}{{$n}}', image)).toBe('busybox:1.36');
    expect(failure(() => run('{{if true}}{{$y := 1}}{{end}}{{$y}}'))).toContain('undefined variable "$y"');
    expect(run('{{$v := .Config}}{{$v.Cmd}} {{$.ID}}', image)).toBe('[sh] sha256:abc');
  });
});

describe('pipelines and functions', () => {
  test('json, as a function and in a pipeline, compact with insertion order', () => {
    expect(run('{{json .Config}}', image)).toBe(
      '{"Env":["PATH=/bin","HOME=/root"],"Labels":{"maintainer":"me","org.version":"1"},"Cmd":["sh"]}',
    );
    expect(run('{{.RepoTags | json}}', image)).toBe('["busybox:latest","busybox:1.36"]');
    expect(run('{{json .Missing}} {{json "<&>"}}', image)).toBe('null "<&>"');
  });

  test('index into maps and slices', () => {
    expect(run('{{index .Config.Labels "org.version"}}', image)).toBe('1');
    expect(run('{{index .RepoTags 1}}', image)).toBe('busybox:1.36');
    expect(run('{{index .Config "Env" 0}}', image)).toBe('PATH=/bin');
    expect(run('[{{index .Config.Labels "absent"}}]', image)).toBe('[]');
    expect(failure(() => run('{{index .RepoTags 5}}', image))).toContain('index out of range: 5');
  });

  test('string functions: upper lower title join split truncate pad', () => {
    expect(run('{{upper "abc"}} {{lower "ABC"}} {{title "hello big-world"}}')).toBe('ABC abc Hello Big-World');
    expect(run('{{join .RepoTags ", "}}', image)).toBe('busybox:latest, busybox:1.36');
    expect(run('{{split "a:b:c" ":"}} {{len (split "a:b:c" ":")}}')).toBe('[a b c] 3');
    expect(run('{{truncate .ID 6}}|{{truncate "ab" 6}}', image)).toBe('sha256|ab');
    expect(run('[{{pad "x" 1 2}}][{{pad "" 1 2}}]')).toBe('[ x  ][]');
  });

  test('len of strings (bytes), slices and maps', () => {
    expect(run('{{len .RepoTags}} {{len .Config.Labels}} {{len "é"}}', image)).toBe('2 2 2');
    expect(failure(() => run('{{len 3}}'))).toContain('len of type int');
  });

  test('printf with common verbs, println and print', () => {
    expect(run('{{printf "%s %d %v %q" "a" 42 .RepoTags "q"}}', image)).toBe('a 42 [busybox:latest busybox:1.36] "q"');
    expect(run('{{printf "%-6s|%6s|%06.2f|%x|%5.1f%%" "ab" "cd" 3.14159 255 99.94}}')).toBe('ab    |    cd|003.14|ff| 99.9%');
    // Go rounds the exact binary value, ties to even: 99.95 is slightly above the tie, 0.125 and 2.5 are ties.
    expect(run('{{printf "%.1f %.2f %.0f %.0f" 99.95 0.125 2.5 3.5}}')).toBe('100.0 0.12 2 4');
    expect(run('{{.Size | printf "%d bytes"}}', image)).toBe('4261234 bytes');
    expect(run('{{println "a" 1}}{{print "a" 1 2}}')).toBe('a 1\na1 2');
    expect(run('{{printf "%d" "x"}} {{printf "%s"}}')).toBe('%!d(string=x) %!s(MISSING)');
  });

  test('comparisons and logic', () => {
    expect(run('{{eq 1 1}} {{eq "a" "b" "a"}} {{ne 1 2}} {{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1 2}}')).toBe(
      'true true true true true true false',
    );
    expect(run('{{and 1 "x"}} {{and 0 "x"}} {{or "" "y"}} {{or 0 ""}} {{not 0}}')).toBe('x 0 y  true');
    expect(failure(() => run('{{lt 1 "a"}}'))).toContain('incompatible types for comparison');
  });

  test('and/or stop at the first decisive argument', () => {
    expect(run('{{if and .Config .Config.Cmd}}yes{{end}}', image)).toBe('yes');
    expect(run('{{or .ID (index .RepoTags 99)}}', image)).toBe('sha256:abc');
  });

  test('parenthesized pipelines and field access on their result', () => {
    expect(run('{{(index .Items 0).Name}} {{len (index .Items 0).Name}}', { Items: [{ Name: 'abc' }] })).toBe('abc 3');
  });

  test('html, js and urlquery escape', () => {
    expect(run(`{{html "<a href='x'>&"}}`)).toBe('&lt;a href=&#39;x&#39;&gt;&amp;');
    expect(run('{{urlquery "a b&c"}}')).toBe('a+b%26c');
    expect(run(`{{js "it's <b>"}}`)).toBe("it\\'s \\u003Cb\\u003E");
  });

  test('extra functions can be supplied', () => {
    expect(compileTemplate('{{shout .X}}', { functions: { shout: (s) => `${String(s)}!` } })({ X: 'hi' })).toBe('hi!');
  });
});

describe('errors', () => {
  test.each([
    ['{{.ID', 'unclosed action'],
    ['{{nope .ID}}', 'function "nope" not defined'],
    ['{{if .A}}x', 'missing {{end}}'],
    ['{{end}}', 'unexpected {{end}}'],
    ['{{else}}', 'unexpected {{else}}'],
    ['{{}}', 'missing value for command'],
    ['{{$x}}', 'undefined variable "$x"'],
    ['{{.A | "x"}}', 'non executable command in pipeline stage 2'],
    ['{{break}}', '{{break}} outside {{range}}'],
    ['{{"abc}}', 'unterminated quoted string'],
    ['{{(.A}}', 'unclosed left paren'],
    ['{{.A)}}', 'unexpected right paren'],
    ['{{template "x"}}', 'not supported'],
    ['{{/* x }}', 'unclosed comment'],
    ['{{if}}{{end}}', 'missing value for if'],
    ['{{3x}}', 'bad number syntax'],
  ])('%s', (text, message) => {
    const m = failure(() => compileTemplate(text));
    expect(m).toMatch(/^invalid --format template: /);
    expect(m).toContain(message);
  });

  test('run-time failures name the action', () => {
    expect(failure(() => run('{{index .L 3}}', { L: [] }))).toBe(
      '--format template failed at <index .L 3>: error calling index: index out of range: 3',
    );
    expect(failure(() => run('{{.A.B}}', { A: 'str' }))).toContain("can't evaluate field B in type string");
    expect(failure(() => run('{{upper 3}}'))).toContain('wrong type for value; expected string; got int');
    expect(failure(() => run('{{.A 1}}', { A: 'x' }))).toContain('A is not a method but has arguments');
  });
});

test('parseTemplate reports the fields read from dot', () => {
  expect(parseTemplate('{{.ID}}\\t{{json .Config.Labels}} {{$x := 1}}').fields).toEqual([['ID'], ['Config', 'Labels']]);
});

test('a compiled template can run many times with independent variables', () => {
  const t = compileTemplate('{{$n := .N}}{{range .L}}{{$n = .}}{{end}}{{$n}}');
  expect(t({ N: 'a', L: ['b'] })).toBe('b');
  expect(t({ N: 'c', L: [] })).toBe('c');
});
