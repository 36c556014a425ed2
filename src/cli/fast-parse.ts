import { Cli, Command, type CommandClass } from 'clipanion';
// Clipanion's own builder and NoLimits (the package has no exports map): the positionals of a Rest
// are marked with this very symbol, which the transformers compare against.
import { CommandBuilder, NoLimits, type RunState } from 'clipanion/lib/core.js';
import type { CtrContext } from './command.js';

// Clipanion's patterns (lib/constants), which decide how it reads a token.
const HELP_REGEX = /^(-h|--help)(?:=([0-9]+))?$/;
const OPTION_REGEX = /^(--[a-z]+(?:-[a-z]+)*|-[a-zA-Z]+)$/;
const BATCH_REGEX = /^-[a-zA-Z]{2,}$/;
const BINDING_REGEX = /^([^=]+)=([\s\S]*)$/;

type Builder = CommandBuilder<unknown>;
type OptionDefinition = Builder['options'][number];

/** What clipanion keeps of an option field: its definition and the function that makes its value. */
interface Spec {
  definition(builder: Builder, key: string): void;
  transformer(builder: Builder, key: string, state: RunState, context: unknown): unknown;
}

/** Clipanion's test for a token that cannot be an option's value or a positional. */
const isOptionLike = (token: string) => token !== '-' && token.startsWith('-');

/**
 * The command clipanion's `cli.process(argv, context)` would make of argv with commandClass as its
 * only command, without building and running its state machine (~3 ms of every start). Plain
 * command lines only: undefined whenever clipanion could read argv otherwise, fail, or show help,
 * and the caller then asks clipanion. The values come from clipanion's own transformers (defaults,
 * arrays, validators), given the parse state its machine would have reached.
 */
export function fastParse(commandClass: CommandClass<CtrContext>, argv: string[], userContext: CtrContext): Command<CtrContext> | undefined {
  // Options before the command's name are clipanion's to read.
  const first = argv[0];
  if (first === undefined || first.startsWith('-')) return undefined;
  // Clipanion keeps the branch with the longest path.
  let path: string[] | undefined;
  for (const p of commandClass.paths ?? []) {
    if (p.length > (path?.length ?? 0) && p.length <= argv.length && p.every((segment, i) => argv[i] === segment)) path = p;
  }
  if (path === undefined) return undefined;

  // What Cli.register does: the option fields of an instance, defined on a builder. Clipanion
  // then makes a second instance for the command; this one serves, as every option field gets
  // its value below (a second instance of run cost ~1 ms, cold).
  const command = new commandClass();
  const fields = command as unknown as Record<string, unknown>;
  const specs = new Map<string, Spec>();
  for (const key in fields) {
    const value = fields[key] as Record<PropertyKey, unknown> | null;
    if (typeof value === 'object' && value !== null && value[Command.isOption]) specs.set(key, value as unknown as Spec);
  }
  const builder: Builder = new CommandBuilder(0, { binaryName: 'ctr' });
  try {
    for (const [key, { definition }] of specs) definition(builder, key);
  } catch {
    // A definition clipanion refuses: its register throws the same.
    return undefined;
  }

  const { leading, extra, trailing, proxy } = builder.arity;
  // Left to clipanion: trailing positionals, a proxy right after the path (no options there),
  // required options (checked on the branches left at the end) and options of several values.
  if (trailing.length > 0 || (proxy && leading.length === 0)) return undefined;
  const byName = new Map<string, OptionDefinition>();
  for (const option of builder.options) {
    if (option.required || option.arity > 1) return undefined;
    for (const name of option.names) {
      // A name given twice is two branches (ambiguous); one not like an option is also a positional.
      if (byName.has(name) || !name.startsWith('-')) return undefined;
      byName.set(name, option);
    }
  }

  const options: RunState['options'] = [];
  const positionals: RunState['positionals'] = [];
  for (let i = path.length; i < argv.length; i++) {
    const token = argv[i]!;
    // After a proxy's last required positional, clipanion takes every token as it is.
    if (proxy && positionals.length >= leading.length) {
      positionals.push({ value: token, extra: NoLimits });
      continue;
    }
    // `--` stops options, -h shows help (or is an option too, as -h,--hostname of run).
    if (token === '--' || HELP_REGEX.test(token)) return undefined;
    const option = byName.get(token);
    if (option !== undefined) {
      // -ab named so is also a batch of -a and -b; --no-x also negates --x.
      if (BATCH_REGEX.test(token) || (token.startsWith('--no-') && byName.has(`--${token.slice(5)}`))) return undefined;
      if (option.arity === 0) {
        options.push({ name: token, value: true });
      } else {
        const value = argv[++i];
        if (value === undefined || isOptionLike(value)) return undefined;
        options.push({ name: token, value });
      }
      continue;
    }
    if (isOptionLike(token)) {
      if (BATCH_REGEX.test(token)) {
        // Clipanion batches letters of options that take a value too (their value is then true).
        const letters = [...token.slice(1)].map((letter) => `-${letter}`);
        if (!letters.every((name) => byName.get(name)?.arity === 0)) return undefined;
        for (const name of letters) options.push({ name, value: true });
        continue;
      }
      const bound = BINDING_REGEX.exec(token);
      const name = bound?.[1];
      if (bound === null || name === undefined || !OPTION_REGEX.test(name) || byName.get(name)?.allowBinding !== true) return undefined;
      options.push({ name, value: bound[2] });
      continue;
    }
    if (positionals.length < leading.length) positionals.push({ value: token, extra: false });
    else if (extra === NoLimits) positionals.push({ value: token, extra: NoLimits });
    else if (positionals.length < leading.length + extra.length) positionals.push({ value: token, extra: true });
    else return undefined;
  }
  if (positionals.length < leading.length) return undefined;

  // The state clipanion's machine ends in; the transformers read its options and positionals.
  const state: RunState = {
    candidateUsage: null,
    requiredOptions: [],
    errorMessage: null,
    ignoreOptions: false,
    options,
    path: [...path],
    positionals,
    remainder: null,
    selectedIndex: 0,
  };
  // As the build's patched Cli.process merges them: descriptors, so that no getter runs (stdin).
  const context = Object.defineProperties(
    {},
    { ...Object.getOwnPropertyDescriptors(Cli.defaultContext), ...Object.getOwnPropertyDescriptors(userContext) },
  ) as CtrContext;
  command.context = context;
  command.path = state.path;
  try {
    for (const [key, { transformer }] of specs) fields[key] = transformer(builder, key, state, context);
  } catch {
    // A validator's error: clipanion parses again and reports it.
    return undefined;
  }
  return command;
}
