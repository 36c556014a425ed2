import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a build script without type declarations
import { patchClipanion } from '../../scripts/clipanion-patch.mjs';

type Clipanion = typeof import('clipanion');

const require = createRequire(import.meta.url);
const libDir = dirname(dirname(require.resolve('clipanion')));

// A copy of clipanion's lib/ with the build's patches applied, loaded next to the original.
const tempDir = mkdtempSync(join(tmpdir(), 'ctr-clipanion-'));
const patchedDir = join(tempDir, 'lib');
cpSync(libDir, patchedDir, { recursive: true });
const patchedFiles: string[] = [];
for (const rel of ['core.js', 'advanced/Cli.js', 'platform/node.js']) {
  const file = join(patchedDir, rel);
  const text = patchClipanion(file, readFileSync(file, 'utf8')) as string | undefined;
  if (text !== undefined) {
    writeFileSync(file, text);
    patchedFiles.push(rel);
  }
}
const original = require('clipanion') as Clipanion;
const patched = require(join(patchedDir, 'advanced/index.js')) as Clipanion;

afterAll(() => rmSync(tempDir, { recursive: true, force: true }));

/** Commands shaped like ctr's: many options of arity 0, 1 and 2, positionals, rest and proxy. */
function makeCli(c: Clipanion) {
  const { Cli, Command, Option } = c;
  class Run extends Command {
    static override paths = [['run'], ['container', 'run']];
    rm = Option.Boolean('--rm', false);
    interactive = Option.Boolean('-i,--interactive');
    tty = Option.Boolean('-t,--tty');
    name = Option.String('--name');
    env = Option.Array('-e,--env');
    user = Option.String('-u,--user');
    pair = Option.String('--pair', { arity: 2 });
    network = Option.String('--network');
    pull = Option.String('--pull', 'missing');
    image = Option.String();
    args = Option.Proxy();
    override async execute() {}
  }
  class Rm extends Command {
    static override paths = [['rm']];
    force = Option.Boolean('-f,--force', false);
    volumes = Option.Boolean('-v,--volumes', false);
    time = Option.String('-t,--time');
    containers = Option.Rest({ required: 1 });
    override async execute() {}
  }
  class Tag extends Command {
    static override paths = [['tag']];
    quiet = Option.Boolean('-q');
    format = Option.String('--format');
    source = Option.String();
    target = Option.String({ required: false });
    override async execute() {}
  }
  const cli = new Cli({ binaryName: 'ctr' });
  for (const k of [Run, Rm, Tag]) cli.register(k);
  return cli;
}

/** What parsing argv gives: the selected command's fields, or the error's text. */
function parse(c: Clipanion, argv: string[]): unknown {
  const cli = makeCli(c);
  try {
    const command = cli.process(argv) as unknown as Record<string, unknown>;
    const fields: Record<string, unknown> = { command: command.constructor.name, help: command.help };
    for (const key of Object.keys(command)) if (!['cli', 'context', 'path', 'help'].includes(key)) fields[key] = command[key];
    // Classes and functions by name: each copy of clipanion has its own.
    return JSON.parse(JSON.stringify(fields, (_, v: unknown) => (typeof v === 'function' ? `[function ${v.name}]` : v)));
  } catch (err) {
    return { error: String((err as Error).message).replace(/\x1b\[[0-9;]*m/g, '') };
  }
}

const cases: string[][] = [
  ['run', 'img'],
  ['run', '--rm', '--name', 'x', 'img', 'sh', '-c', 'echo --name y'],
  ['run', '-it', '-e', 'A=1', '--env', 'B=2', '-e=C=3', 'img', 'true'],
  ['run', '--name=x', '--network', 'none', '-u', '1000:1000', 'img', '--rm'],
  ['run', '--pair', 'a', 'b', 'img', 'x'],
  ['run', '--pair', 'a', '--rm', 'img'],
  ['run', '--pair', 'a'],
  ['run', '--name'],
  ['run', '--name', '--rm', 'img'],
  ['run', '--bogus', 'img'],
  ['run'],
  ['run', '--help'],
  ['run', 'img', '--help'],
  ['container', 'run', '--rm', '-e', 'X', 'img', 'a', 'b'],
  ['--rm', 'run', 'img'],
  ['run', '--pull', 'always', '--name', 'a', '--name', 'b', 'img'],
  ['rm', 'a'],
  ['rm', '-fv', 'a', 'b', '-t', '3'],
  ['rm', '-t', '3', 'a', '--force'],
  ['rm', '-t'],
  ['rm'],
  ['tag', 'a'],
  ['tag', 'a', 'b'],
  ['tag', '--format', 'x', 'a', 'b', '-q'],
  ['tag', 'a', 'b', 'c'],
  ['tag', '--format'],
  ['nope'],
  [],
];

describe('the build’s clipanion patches', () => {
  it('apply to this clipanion version', () => {
    expect(patchedFiles.sort()).toEqual(['advanced/Cli.js', 'core.js', 'platform/node.js']);
  });

  it.each(cases.map((argv) => [argv.join(' ') || '(nothing)', argv]))('parse %s as clipanion itself does', (_, argv) => {
    const expected = parse(original, argv);
    expect(parse(patched, argv)).toEqual(expected);
  });

  it('leave far fewer transitions in the state machine of a command with many options', () => {
    const count = (c: Clipanion) => {
      const { machine } = (makeCli(c) as unknown as { builder: { compile(): { machine: { nodes: { statics: Record<string, unknown[]>; dynamics: unknown[] }[] } } } }).builder.compile();
      return machine.nodes.reduce((n, node) => n + node.dynamics.length + Object.values(node.statics).reduce((m, t) => m + t.length, 0), 0);
    };
    expect(count(patched)).toBeLessThan(count(original) / 2);
  });
});
