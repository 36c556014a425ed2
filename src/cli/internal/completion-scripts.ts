import type { CommandReference, OptionReference } from './reference.js';

export type Shell = 'bash' | 'zsh' | 'fish';
export const SHELLS: readonly Shell[] = ['bash', 'zsh', 'fish'];

interface Word {
  word: string;
  description: string;
}

/**
 * The command tree: a node is a path typed so far ('' is `ctr` alone, 'image' is `ctr image`).
 * Each node has the words that may follow it and, when it runs a command, that command's options.
 */
interface Tree {
  nodes: string[];
  children: Map<string, Word[]>;
  commands: Map<string, { options: OptionReference[]; operands: boolean }>;
}

function tree(reference: CommandReference[]): Tree {
  const children = new Map<string, Word[]>([['', []]]);
  const commands = new Map<string, { options: OptionReference[]; operands: boolean }>();
  const descriptions = new Map<string, string>();
  for (const command of reference) {
    for (const path of command.paths) {
      const node = path.join(' ');
      commands.set(node, { options: command.options, operands: command.operands.length > 0 });
      descriptions.set(node, command.description ?? '');
      for (let i = 0; i < path.length; i++) {
        const parent = path.slice(0, i).join(' ');
        const self = path.slice(0, i + 1).join(' ');
        if (!children.has(self)) children.set(self, []);
        const list = children.get(parent)!;
        if (!list.some((w) => w.word === path[i])) list.push({ word: path[i]!, description: '' });
      }
    }
  }
  for (const [parent, list] of children) {
    for (const w of list) {
      const self = parent ? `${parent} ${w.word}` : w.word;
      w.description = descriptions.get(self) ?? `${self} commands`;
    }
    list.sort((a, b) => a.word.localeCompare(b.word));
  }
  return { nodes: [...children.keys()].filter((n) => n !== ''), children, commands };
}

/** Nodes grouped by identical output, so each case branch lists every path that shares it. */
function branches<T>(entries: [string, T][], key: (value: T) => string): { nodes: string[]; value: T }[] {
  const out = new Map<string, { nodes: string[]; value: T }>();
  for (const [node, value] of entries) {
    const k = key(value);
    if (out.has(k)) out.get(k)!.nodes.push(node);
    else out.set(k, { nodes: [node], value });
  }
  return [...out.values()];
}

const sh = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
const fishQuote = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const oneLine = (s: string | undefined): string => (s ?? '').replace(/\s+/g, ' ').trim();

function names(options: OptionReference[], withValue: boolean | undefined): string[] {
  return options.filter((o) => withValue === undefined || o.takesValue === withValue).flatMap((o) => o.names);
}

/** The shell function bodies bash and zsh share: `case` over nodes, one branch per distinct answer. */
function shCase(fn: string, entries: { nodes: string[]; lines: string[] }[], indent = '    '): string {
  const arms = entries
    .filter((e) => e.lines.length > 0)
    .map((e) => `${indent}${e.nodes.map(sh).join('|')})\n${indent}  printf '%s\\n' ${e.lines.map(sh).join(' ')} ;;`);
  if (arms.length === 0) return `${fn}() {\n  :\n}\n`;
  return `${fn}() {\n  case $1 in\n${arms.join('\n')}\n  esac\n}\n`;
}

function shHelpers(t: Tree, described: boolean): string {
  const zshWord = (w: string, d: string | undefined) => (described ? `${w.replace(/:/g, '\\:')}:${oneLine(d)}` : w);
  const children = branches([...t.children.entries()], (ws) => ws.map((w) => zshWord(w.word, w.description)).join('\n'));
  const commands = [...t.commands.entries()];
  const options = branches(commands, (c) => c.options.map((o) => o.definition + o.description).join('\n'));
  const valued = branches(commands, (c) => names(c.options, true).join(' '));
  return [
    `_ctr_is_node() {\n  case $1 in\n    ${t.nodes.map(sh).join('|')}) return 0 ;;\n  esac\n  return 1\n}\n`,
    shCase('_ctr_children', children.map((b) => ({ nodes: b.nodes, lines: b.value.map((w) => zshWord(w.word, w.description)) }))),
    shCase(
      '_ctr_options',
      options.map((b) => ({
        nodes: b.nodes,
        lines: [...b.value.options.flatMap((o) => o.names.map((n) => zshWord(n, o.description))), zshWord('--help', 'show help for this command')],
      })),
    ),
    shCase('_ctr_value_options', valued.map((b) => ({ nodes: b.nodes, lines: names(b.value.options, true) }))),
  ].join('\n');
}

// The walk over the words before the cursor, shared by bash and zsh. Before the command name
// every option is one of ctr's global options, and each of those takes a value.
const shWalk = (first: string, words: string, end: string) => `  local node='' word skip='' operands='' i
  for ((i = ${first}; i < ${end}; i++)); do
    word=\${${words}[i]}
    if [[ -n $skip ]]; then skip=''; continue; fi
    case $word in
      --*=*) continue ;;
      -*)
        if [[ -z $node ]] || [[ $'\\n'"$(_ctr_value_options "$node")"$'\\n' == *$'\\n'"$word"$'\\n'* ]]; then skip=1; fi
        continue ;;
    esac
    if [[ -z $operands ]] && _ctr_is_node "\${node:+$node }$word"; then
      node="\${node:+$node }$word"
    else
      operands=1
    fi
  done`;

export function bashCompletion(reference: CommandReference[]): string {
  const t = tree(reference);
  return `# bash completion for ctr, generated from its commands: source <(ctr completion bash)
${shHelpers(t, false)}
_ctr() {
${shWalk('1', 'COMP_WORDS', 'COMP_CWORD')}
  local cur=\${COMP_WORDS[COMP_CWORD]} IFS=$'\\n'
  COMPREPLY=()
  # An option's value or an operand: left to bash's default (file names).
  [[ -n $skip ]] && return 0
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(_ctr_options "$node")" -- "$cur"))
  elif [[ -z $operands ]]; then
    COMPREPLY=($(compgen -W "$(_ctr_children "$node")" -- "$cur"))
  fi
  return 0
}
complete -o bashdefault -o default -F _ctr ctr
`;
}

export function zshCompletion(reference: CommandReference[]): string {
  const t = tree(reference);
  return `#compdef ctr
# zsh completion for ctr, generated from its commands: source <(ctr completion zsh), or save as _ctr in $fpath
${shHelpers(t, true)}
_ctr() {
${shWalk('2', 'words', 'CURRENT')}
  local -a items
  if [[ -n $skip ]]; then _files; return; fi
  if [[ \${words[CURRENT]} == -* ]]; then
    items=(\${(f)"$(_ctr_options "$node")"})
    _describe -t options option items
    return
  fi
  if [[ -z $operands ]]; then
    items=(\${(f)"$(_ctr_children "$node")"})
    if (( \${#items} )); then _describe -t commands command items; return; fi
  fi
  _files
}

if [[ \${funcstack[1]} == _ctr ]]; then
  _ctr "$@"
else
  compdef _ctr ctr
fi
`;
}

function fishSwitch(entries: { nodes: string[]; lines: string[] }[]): string {
  if (entries.length === 0) return '    true';
  const arms = entries.map((e) => `        case ${e.nodes.map(fishQuote).join(' ')}\n            printf '%s\\n' ${e.lines.map(fishQuote).join(' ')}`);
  return `    switch $argv[1]\n${arms.join('\n')}\n    end`;
}

export function fishCompletion(reference: CommandReference[]): string {
  const t = tree(reference);
  const at = (nodes: string[]) => nodes.map((n) => `__ctr_at "${n.replace(/["$\\]/g, '\\$&')}"`).join('; or ');
  const lines: string[] = [];
  for (const [node, words] of t.children) {
    for (const w of words) lines.push(`complete -c ctr -n ${fishQuote(at([node]))} -a ${fishQuote(w.word)} -d ${fishQuote(oneLine(w.description))}`);
  }
  const commands = branches([...t.commands.entries()], (c) => JSON.stringify(c));
  for (const { nodes, value } of commands) {
    const cond = `-n ${fishQuote(at(nodes))}`;
    if (value.operands) lines.push(`complete -c ctr ${cond} -F`);
    for (const o of value.options) {
      const flags = o.names.map((n) => (n.startsWith('--') ? `-l ${n.slice(2)}` : n.length === 2 ? `-s ${n.slice(1)}` : `-o ${n.slice(1)}`));
      lines.push(`complete -c ctr ${cond} ${flags.join(' ')}${o.takesValue ? ' -r' : ''} -d ${fishQuote(oneLine(o.description))}`);
    }
  }
  const valued = branches([...t.commands.entries()], (c) => names(c.options, true).join(' ')).filter((b) => names(b.value.options, true).length > 0);
  return `# fish completion for ctr, generated from its commands: ctr completion fish | source
function __ctr_is_node
    switch $argv[1]
        case ${t.nodes.map(fishQuote).join(' ')}
            return 0
    end
    return 1
end

function __ctr_value_options
${fishSwitch(valued.map((b) => ({ nodes: b.nodes, lines: names(b.value.options, true) })))}
end

# The command path typed so far; before the command name every option is a global one that takes a value.
function __ctr_node
    set -l words (commandline -opc)
    set -e words[1]
    set -l node ''
    set -l skip 0
    for word in $words
        if test $skip = 1
            set skip 0
            continue
        end
        switch $word
            case '--*=*'
                continue
            case '-*'
                if test -z "$node"; or contains -- $word (__ctr_value_options $node)
                    set skip 1
                end
                continue
        end
        set -l next (string trim -- "$node $word")
        __ctr_is_node $next; or break
        set node $next
    end
    printf '%s\\n' $node
end

function __ctr_at
    set -l node (__ctr_node)
    test "$node" = "$argv[1]"
end

complete -c ctr -f
complete -c ctr -s h -l help -d 'show help'
${lines.join('\n')}
`;
}
