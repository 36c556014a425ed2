import { Command, Option, type Cli, type CommandClass } from 'clipanion';
import { CommandBuilder, NoLimits } from 'clipanion/lib/core.js';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { CtrContext } from '../../src/cli/command.js';
import { allCommands, candidateCommands } from '../../src/cli/commands.js';
import { fastParse } from '../../src/cli/fast-parse.js';
import { makeCli } from '../../src/cli/index.js';

// Vite resolves clipanion's main (no extension) to its ES build, whose directory import Node
// refuses; the build bundles the CommonJS one, which clipanion/lib/core.js belongs to as well.
vi.mock('clipanion', async () => (await import('node:module')).createRequire(import.meta.url)('clipanion'));

type Class = CommandClass<CtrContext>;
type Builder = CommandBuilder<unknown>;

const context = { env: { CTR_TEST: '1' }, globals: { root: '/r' } } as unknown as CtrContext;

/** The options and positionals a command class defines, as clipanion's register sees them. */
function definitions(cls: Class): Builder {
  const builder: Builder = new CommandBuilder(0, { binaryName: 'ctr' });
  const instance = new cls() as unknown as Record<string, Record<PropertyKey, unknown> | null>;
  for (const key in instance) {
    const value = instance[key];
    if (typeof value === 'object' && value !== null && value[Command.isOption]) (value as unknown as { definition(b: Builder, k: string): void }).definition(builder, key);
  }
  return builder;
}

/**
 * A Cli of `classes` as runCli makes it, compiled once: Cli.process compiles the same machine for
 * every command line (~10 ms for run without the build's patches) and running it changes nothing in it.
 */
function compiledCli(classes: Class[]): Cli<CtrContext> {
  const cli = makeCli(classes);
  const builder = (cli as unknown as { builder: { compile(): unknown } }).builder;
  const compiled = builder.compile();
  builder.compile = () => compiled;
  return cli;
}

/** A command's fields as parsing set them. */
function fields(command: Command<CtrContext>): Record<string, unknown> {
  return Object.fromEntries(Object.keys(command).filter((k) => k !== 'context' && k !== 'cli').map((k) => [k, (command as unknown as Record<string, unknown>)[k]]));
}

const VALUES = ['v', '', '-', '=x', '-x', 'a b', 'x=y', 'ünï €😀', '--', '-h', '--help', '--no-rm'];
const MISC = ['--', '--bogus', '--bogus=1', '--no-bogus', '-h', '--help', '--help=1', '-h=1', '-', '', '---x', '-1', '-=x', '--=x', '=x', '-Q', '-Qz'];

/** Command lines for cls from its own definitions: every name in every form and place, and odd ones. */
function variants(cls: Class): string[][] {
  const b = definitions(cls);
  const { leading, extra, proxy } = b.arity;
  const finite = extra === NoLimits ? 2 : extra.length;
  const pos = (n: number) => Array.from({ length: n }, (_, i) => `p${i}`);
  const need = pos(leading.length);
  const out: string[][] = [];
  (cls.paths ?? []).forEach((path, p) => {
    const add = (...rest: string[]) => out.push([...path, ...rest]);
    for (let n = 0; n <= leading.length + finite + 1; n++) add(...pos(n));
    add('-', ...need.slice(1));
    add('', ...need.slice(1));
    // Before, between and after the positionals; with a proxy, after its first argument too.
    const placed = (tokens: string[]) => {
      add(...tokens, ...need);
      if (p > 0) return;
      add(...need, ...tokens);
      if (need.length > 1) add(need[0]!, ...tokens, ...need.slice(1));
      add(...pos(leading.length + finite), ...tokens);
      if (proxy) add(...need, 'cmd', ...tokens);
    };
    for (const option of b.options) {
      for (const name of option.names) {
        if (option.arity === 0) {
          for (const tokens of [[name], [`${name}=x`], [`${name}=`], [`${name}=false`], [name, name]]) placed(tokens);
          if (name.startsWith('--')) placed([`--no-${name.slice(2)}`]);
        } else {
          if (p === 0) for (const v of VALUES) add(name, v, ...need), add(`${name}=${v}`, ...need);
          for (const tokens of [[name, 'v'], [`${name}=v`], [name], [name, 'v1', name, 'v2']]) placed(tokens);
        }
      }
    }
    const letters = (arity: number) => b.options.filter((o) => o.arity === arity).flatMap((o) => o.names.filter((n) => /^-[a-zA-Z]$/.test(n)).map((n) => n[1]!));
    const flags = letters(0);
    const valued = letters(1);
    for (const a of flags) {
      for (const c of flags) placed([`-${a}${c}`]);
      for (const v of valued) placed([`-${a}${v}`, 'val']), placed([`-${v}${a}`]);
      placed([`-${a}Q`]);
    }
    if (flags.length > 2) placed([`-${flags.join('')}`]);
    for (const token of MISC) placed([token]);
  });
  const [first] = cls.paths ?? [];
  if (first) {
    out.push(['-d', ...first, ...need], ['--rm', ...first, ...need]);
    if (first.length > 1) out.push(first.slice(0, 1));
  }
  return out;
}

/** Command lines people type: the fast path must take every one. */
const realistic: string[][] = [
  ['run', '--rm', '-it', '-e', 'A=1', '-v', '/a:/b:ro', '--name', 'x', 'img', 'sh', '-c', 'echo hi'],
  ['run', '--rm', 'busybox', 'echo', '--rm', '-h', '--', 'x'],
  ['run', '-d', '--name', 'web', '--restart', 'on-failure:5', 'busybox', 'httpd', '-f'],
  ['run', '-e=A=1', '--env=B=', '--net=host', '--tls-verify=false', '--tls-verify', 'img'],
  ['run', '--rm', '-u', '1000:1000', '--read-only', '-w', '/src', '-v', '.:/x', 'gcc', 'make'],
  ['container', 'run', '-d', 'img'],
  ['container', 'run', '-i', '--rm', 'busybox', 'tar', 't'],
  ['create', '--name', 'c1', 'img'],
  ['ps'],
  ['ps', '-a', '--format', '{{.ID}}'],
  ['ps', '-aq', '--no-trunc'],
  ['container', 'ls', '-a'],
  ['rm', '-f', 'a', 'b', 'c'],
  ['rm', 'a', '-f'],
  ['container', 'rm', '-fv', 'a'],
  ['exec', '-it', 'c', 'sh'],
  ['exec', '-e', 'X=1', '-w', '/', 'c', 'ls', '-la'],
  ['images'],
  ['images', '-q'],
  ['image', 'ls', '--format', 'json'],
  ['inspect', '--format', 'x', 'a', 'b'],
  ['inspect', 'a'],
  ['logs', '-f', 'c'],
  ['start', 'c'],
  ['stop', '-t', '0', 'c'],
  ['kill', 'c'],
  ['pull', 'busybox'],
  ['pull', '-q', 'localhost:5000/x:1', '--tls-verify=false'],
  ['push', 'localhost:5000/x:1'],
  ['tag', 'a', 'b'],
  ['rmi', 'a', 'b'],
  ['cp', 'c:/etc/hosts', '-'],
  ['top', 'c', 'aux'],
  ['top', 'c', '-o', 'pid'],
  ['volume', 'create', 'v'],
  ['volume', 'ls'],
  ['volume', 'rm', '-f', 'v'],
  ['info'],
  ['version'],
  ['wait', 'c'],
  ['port', 'c'],
  ['stats', '--no-stream'],
  ['history', 'img'],
  ['save', '-o', 'x.tar', 'img'],
  ['load', '-i', 'x.tar'],
  ['export', '-o', 'x.tar', 'c'],
  ['commit', 'c', 'img'],
  ['diff', 'c'],
  ['rename', 'a', 'b'],
  ['pause', 'c'],
  ['unpause', 'c'],
  ['restart', 'c'],
  ['attach', 'c'],
  ['container', 'prune', '-f'],
  ['image', 'prune', '-a', '-f'],
  ['volume', 'prune', '-f'],
];

/** Command lines clipanion takes that the fast path leaves to it. */
const leftToClipanion: string[][] = [
  ['run', '--no-rm', 'img'],
  ['run', '-h'],
  ['run', '--help'],
  ['run', '--rm', '--', 'img'],
  ['ps', '--help'],
  ['ps', '-h=1'],
  ['rm', '--', '-a'],
  ['rm', '-fv', '--', 'a'],
  ['run', '-it', '--no-detach', 'img'],
];

// Shapes no ctr command has (yet), each where clipanion reads a command line otherwise or fails.
class Odd extends Command<CtrContext> {
  static override paths = [['odd', 'sub'], ['odd']];
  ab = Option.Boolean('-ab');
  a = Option.Boolean('-a');
  b = Option.Counter('-b,--bee');
  trunc = Option.Boolean('--trunc');
  noTrunc = Option.Boolean('--no-trunc');
  level = Option.String('-l,--level', { validator: ((value: unknown) => typeof value === 'string' && /^[0-9]+$/.test(value)) as never });
  maybe = Option.String('--maybe', { tolerateBoolean: true });
  target = Option.String({ required: false });
  other = Option.String({ required: false });
  override async execute() {}
}
class Twice extends Command<CtrContext> {
  static override paths = [['twice']];
  x = Option.Boolean('-x');
  y = Option.String('-y,-x');
  override async execute() {}
}
class Required extends Command<CtrContext> {
  static override paths = [['required']];
  must = Option.String('--must', { required: true });
  quiet = Option.Boolean('-q');
  first = Option.String({ required: false });
  override async execute() {}
}
class Pair extends Command<CtrContext> {
  static override paths = [['pair']];
  pair = Option.String('--pair', { arity: 2 });
  quiet = Option.Boolean('-q');
  first = Option.String({ required: false });
  override async execute() {}
}
class Trailing extends Command<CtrContext> {
  static override paths = [['trailing']];
  quiet = Option.Boolean('-q');
  first = Option.String();
  rest = Option.Rest();
  last = Option.String();
  override async execute() {}
}
class BareProxy extends Command<CtrContext> {
  static override paths = [['bare']];
  quiet = Option.Boolean('-q');
  args = Option.Proxy();
  override async execute() {}
}
class TwoProxy extends Command<CtrContext> {
  static override paths = [['two']];
  quiet = Option.Boolean('-q');
  name = Option.String('-n,--name');
  args = Option.Proxy({ required: 2 });
  override async execute() {}
}
const synthetic = [Odd, Twice, Required, Pair, Trailing, BareProxy, TwoProxy] as unknown as Class[];

let classes: Class[];
beforeAll(async () => {
  classes = await allCommands();
});

describe('fastParse', () => {
  it('makes the command clipanion makes, or leaves the command line to it', () => {
    let compared = 0;
    let taken = 0;
    let accepted = 0;
    for (const cls of [...classes, ...synthetic]) {
      const cli = compiledCli([cls]);
      for (const argv of variants(cls)) {
        compared++;
        let expected: Command<CtrContext> | undefined;
        try {
          expected = cli.process(argv, context);
          accepted++;
        } catch {
          expected = undefined;
        }
        const actual = fastParse(cls, argv, context);
        if (actual === undefined) continue;
        taken++;
        const where = `${cls.name}: ${JSON.stringify(argv)}`;
        expect(expected, where).toBeDefined();
        expect(actual.constructor, where).toBe(expected!.constructor);
        expect(actual.path, where).toStrictEqual(expected!.path);
        expect(Object.keys(actual), where).toStrictEqual(Object.keys(expected!));
        expect(fields(actual), where).toStrictEqual(fields(expected!));
        expect(Object.keys(actual.context), where).toStrictEqual(Object.keys(expected!.context));
        for (const key of Object.keys(actual.context)) expect((actual.context as unknown as Record<string, unknown>)[key], `${where} context.${key}`).toBe((expected!.context as unknown as Record<string, unknown>)[key]);
      }
    }
    // The generator covers the commands, and the fast path takes most of what clipanion accepts.
    expect(compared).toBeGreaterThan(5000);
    expect(taken).toBeGreaterThan(accepted * 0.8);
    expect(taken).toBeLessThan(compared);
  });

  it.each(realistic.map((argv) => [argv.join(' '), argv]))('takes %s', async (_, argv) => {
    // As runCli: only the command argv names, under the paths it may take.
    const candidates = await candidateCommands(argv);
    expect(candidates).toHaveLength(1);
    const expected = compiledCli(candidates).process(argv, context);
    const actual = fastParse(candidates[0]!, argv, context);
    expect(actual).toBeDefined();
    expect(actual!.constructor).toBe(expected.constructor);
    expect(actual!.path).toStrictEqual(expected.path);
    expect(fields(actual!)).toStrictEqual(fields(expected));
  });

  it.each(leftToClipanion.map((argv) => [argv.join(' '), argv]))('leaves %s to clipanion', async (_, argv) => {
    const candidates = await candidateCommands(argv);
    expect(() => compiledCli(candidates).process(argv, context)).not.toThrow();
    expect(fastParse(candidates[0]!, argv, context)).toBeUndefined();
  });

  it('keeps the getters of the context unread', () => {
    let reads = 0;
    const lazy = {
      ...context,
      get stdin() {
        reads++;
        return process.stdin;
      },
    } as unknown as CtrContext;
    const command = fastParse(classes.find((c) => c.paths?.[0]?.[0] === 'ps')!, ['ps'], lazy);
    expect(command).toBeDefined();
    expect(reads).toBe(0);
    expect(command!.context.stdin).toBe(process.stdin);
    expect(reads).toBe(1);
  });
});
