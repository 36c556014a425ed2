// Renders man(7) pages from the reference that `ctr __reference` prints (the commands' own usage text).
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Escapes text for roff; `code` and **bold** (the markdown clipanion understands) become bold. */
function roff(text) {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/`([^`]+)`/g, '\\fB$1\\fR')
    .replace(/\*\*([^*]+)\*\*/g, '\\fB$1\\fR');
}

/** A line roff would read as a request if it began with a dot or a quote. */
function line(text) {
  return /^[.']/.test(text) ? `\\&${text}` : text;
}

function oneLine(text) {
  return (text ?? '').replace(/\s+/g, ' ').trim();
}

/** Paragraphs are separated by blank lines; lines starting with `-` or `*` are list items. */
function paragraphs(text) {
  const out = [];
  for (const block of text.split(/\n\s*\n/)) {
    const items = block.split(/\n(?=\s*[-*][\t ])/);
    for (const item of items) {
      const bullet = item.match(/^\s*[-*][\t ]+([^]*)$/);
      if (bullet) out.push('.IP \\(bu 2', line(roff(oneLine(bullet[1]))));
      else if (oneLine(item)) out.push('.PP', line(roff(oneLine(item))));
    }
  }
  return out;
}

function operand(token) {
  if (token.startsWith('<')) return `\\fI${roff(token.slice(1, -1))}\\fR`;
  if (token.startsWith('[')) return `[\\fI${roff(token.slice(1, -1))}\\fR]`;
  return roff(token);
}

function optionTag(option) {
  const names = option.names.map((n) => `\\fB${roff(n)}\\fR`).join(', ');
  return option.takesValue ? `${names} \\fIvalue\\fR` : names;
}

const pageName = (path) => ['ctr', ...path].join('-');
// No hyphenation and a ragged right edge: command and option names must survive intact.
const header = (name, version) => `.TH ${roff(name.toUpperCase())} 1 "" "ctr ${version}" "ctr manual"\n.nh\n.ad l`;

function commandPage(command, path, version) {
  const name = pageName(path);
  const out = [header(name, version), '.SH NAME', `${roff(name)} \\- ${roff(oneLine(command.description))}`];
  out.push('.SH SYNOPSIS', `\\fBctr ${roff(path.join(' '))}\\fR${command.options.length ? ' [\\fIoptions\\fR]' : ''} ${command.operands.map(operand).join(' ')}`.trimEnd());
  const summary = oneLine(command.description).replace(/^./, (c) => c.toUpperCase());
  out.push('.SH DESCRIPTION', ...paragraphs(command.details ?? (summary ? `${summary}.` : '')));
  const others = command.paths.filter((p) => p.join(' ') !== path.join(' '));
  if (others.length) {
    out.push('.SH ALIASES', others.map((p) => `\\fBctr ${roff(p.join(' '))}\\fR`).join(', '));
  }
  if (command.options.length) {
    out.push('.SH OPTIONS');
    for (const option of command.options) {
      out.push('.TP', optionTag(option), line(roff(oneLine(option.description) || 'undocumented')));
    }
  }
  if (command.examples.length) {
    out.push('.SH EXAMPLES');
    for (const [label, example] of command.examples) {
      out.push('.PP', line(`${roff(oneLine(label))}:`), '.PP', '.RS 4', '.nf', ...example.split('\n').map((l, i) => line(`${i === 0 ? '$ ' : ''}${roff(l)}`)), '.fi', '.RE');
    }
  }
  out.push('.SH SEE ALSO', '.BR ctr (1)');
  return `${out.join('\n')}\n`;
}

function overviewPage(reference, description) {
  const out = [header('ctr', reference.version), '.SH NAME', `ctr \\- ${roff(oneLine(description))}`];
  out.push('.SH SYNOPSIS', '\\fBctr\\fR [\\fIglobal options\\fR] \\fIcommand\\fR [\\fIoptions\\fR] [\\fIarguments\\fR]');
  out.push(
    '.SH DESCRIPTION',
    '.PP',
    'Each command below has its own page, and prints its usage with \\fB\\-\\-help\\fR.',
  );
  const categories = new Map();
  for (const command of reference.commands) {
    const category = command.category ?? 'Other';
    if (!categories.has(category)) categories.set(category, []);
    categories.get(category).push(command);
  }
  out.push('.SH COMMANDS');
  for (const category of [...categories.keys()].sort()) {
    out.push(`.SS ${roff(category)}`);
    const commands = categories.get(category).sort((a, b) => a.paths[0].join(' ').localeCompare(b.paths[0].join(' ')));
    for (const command of commands) {
      out.push('.TP', `.BR ${roff(pageName(command.paths[0]))} (1)`, line(roff(oneLine(command.description))));
    }
  }
  const pages = reference.commands.map((c) => pageName(c.paths[0])).sort();
  out.push('.SH SEE ALSO', pages.map((p, i) => `.BR ${roff(p)} (1)${i < pages.length - 1 ? ',' : ''}`).join('\n'));
  return `${out.join('\n')}\n`;
}

/** Writes man/ctr.1 and one page per command path into dir, replacing the pages of a previous build. */
export function writeManPages(reference, dir, description) {
  mkdirSync(dir, { recursive: true });
  for (const file of readdirSync(dir)) if (/^ctr(-.*)?\.1$/.test(file)) rmSync(join(dir, file));
  writeFileSync(join(dir, 'ctr.1'), overviewPage(reference, description));
  let count = 1;
  for (const command of reference.commands) {
    for (const path of command.paths) {
      writeFileSync(join(dir, `${pageName(path)}.1`), commandPage(command, path, reference.version));
      count++;
    }
  }
  return count;
}
