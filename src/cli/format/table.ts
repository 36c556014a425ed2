import { jsonString, objectEntries } from './gofmt.js';
import { parseTemplate, type TemplateFunction } from './template.js';

/** A column of a default table: its header and how to print a row's cell. */
export interface Column<T> {
  header: string;
  value: (row: T) => string;
}

export interface TabwriterOptions {
  /** Narrowest column, padding included (docker: 10). */
  minWidth?: number;
  /** Spaces after the widest cell of a column (docker: 3). */
  padding?: number;
}

function runeLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/**
 * Go's text/tabwriter as docker configures it (minwidth 10, padding 3, spaces): tab-terminated
 * cells are aligned per column block (consecutive lines having that column); the last cell of a
 * line is not aligned. Returns the text with the same lines.
 */
export function tabwrite(text: string, opts: TabwriterOptions = {}): string {
  const minWidth = opts.minWidth ?? 10;
  const padding = opts.padding ?? 3;
  const lines = text.split('\n').map((l) => l.split('\t'));
  const out: string[] = new Array<string>(lines.length).fill('');
  const widths: number[] = [];

  const writeLines = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const cells = lines[i] as string[];
      let s = '';
      cells.forEach((cell, j) => {
        s += cell;
        const w = widths[j];
        if (w !== undefined) s += ' '.repeat(Math.max(w - runeLength(cell), 0));
      });
      out[i] = s;
    }
  };

  const format = (line0: number, line1: number) => {
    const column = widths.length;
    for (let t = line0; t < line1; t++) {
      if (column >= (lines[t] as string[]).length - 1) continue;
      // A block of lines that all have a cell in this column starts here.
      writeLines(line0, t);
      line0 = t;
      let width = minWidth;
      for (; t < line1; t++) {
        const cells = lines[t] as string[];
        if (column >= cells.length - 1) break;
        width = Math.max(width, runeLength(cells[column] as string) + padding);
      }
      widths.push(width);
      format(line0, t);
      widths.pop();
      line0 = t;
    }
    writeLines(line0, line1);
  };

  format(0, lines.length);
  return out.join('\n');
}

function cleanCell(s: string): string {
  return s.replace(/[\t\n\r]/g, ' ');
}

function trimLines(text: string): string {
  return text
    .split('\n')
    .map((l) => l.replace(/ +$/, ''))
    .join('\n');
}

/** An aligned table as docker prints lists: header line, one line per row, no trailing spaces. */
export function formatTable<T>(columns: Column<T>[], rows: T[], opts: { header?: boolean } = {}): string {
  const lines: string[] = [];
  if (opts.header ?? true) lines.push(columns.map((c) => cleanCell(c.header)).join('\t'));
  for (const row of rows) lines.push(columns.map((c) => cleanCell(c.value(row))).join('\t'));
  if (lines.length === 0) return '';
  return trimLines(tabwrite(lines.join('\n'))) + '\n';
}

/** The header docker-style for a field name: CreatedSince -> CREATED SINCE, ID -> ID, IPAddress -> IP ADDRESS. */
export function defaultHeader(field: string): string {
  return field
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toUpperCase();
}

export interface RenderListOptions<T> {
  /** The user's --format: undefined, "table", "table TEMPLATE", "json" or a template. */
  format?: string;
  /** The template data, one object per row, with docker's field names (ID, Repository...). */
  rows: T[];
  /** The default table's columns: field names of the rows, or explicit columns. */
  defaultColumns: (string | Column<T>)[];
  /** -q: print only `quietField` of each row (unless a custom template was given, as docker). */
  quiet?: boolean;
  quietField?: string;
  /** Headers for field names where docker's differ from the default (ID -> "IMAGE ID"). */
  headers?: Record<string, string>;
}

function fieldOf(row: unknown, name: string): unknown {
  if (typeof row !== 'object' || row === null) return undefined;
  return (row as Record<string, unknown>)[name];
}

function cellText(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : String(v);
}

const HEADER_FUNCTIONS: Record<string, TemplateFunction> = Object.fromEntries(
  ['json', 'split', 'join', 'title', 'lower', 'upper', 'truncate', 'pad'].map((name) => [name, (v: unknown) => v]),
);

/** The data that turns a table template into its header line: each field read gives its header. */
function headerData(fields: string[][], headers: Record<string, string>): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const chain of fields) {
    const last = chain[chain.length - 1] as string;
    const header = headers[chain.join('.')] ?? headers[last] ?? defaultHeader(last);
    let obj = data;
    chain.forEach((name, i) => {
      if (i === chain.length - 1) {
        if (!(name in obj)) obj[name] = header;
        return;
      }
      const next = obj[name];
      if (typeof next === 'object' && next !== null) obj = next as Record<string, unknown>;
      else if (next === undefined) obj = obj[name] = {};
    });
  }
  return data;
}

/** One JSON object per row with sorted keys, as `docker ... --format json` prints. */
function jsonRow(row: unknown): string {
  if (typeof row !== 'object' || row === null) return jsonString(row);
  const entries = objectEntries(row).filter(([, v]) => typeof v !== 'function');
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return jsonString(Object.fromEntries(entries));
}

/**
 * The output of a list command (images, ps, volume ls...) for docker's --format conventions:
 * nothing or `table` -> the default table; `table TEMPLATE` -> an aligned table whose header comes
 * from the template's fields; `json` -> one JSON object per line; any other template -> one line
 * per row. `\t` and `\n` typed in the template become tab and newline.
 */
export function renderList<T>(opts: RenderListOptions<T>): string {
  const headers = opts.headers ?? {};
  const format = (opts.format ?? '').trim();
  const isTable = format.startsWith('table');
  const body = isTable ? format.slice('table'.length).trim() : format;
  if (body === '') {
    if (opts.quiet) return opts.rows.map((r) => `${cellText(fieldOf(r, opts.quietField ?? 'ID'))}\n`).join('');
    const columns = opts.defaultColumns.map((c): Column<T> =>
      typeof c === 'string' ? { header: headers[c] ?? defaultHeader(c), value: (row) => cellText(fieldOf(row, c)) } : c,
    );
    return formatTable(columns, opts.rows);
  }
  if (!isTable && format === 'json') return opts.rows.map((r) => `${jsonRow(r)}\n`).join('');
  const template = parseTemplate(body);
  const lines = opts.rows.map((r) => template.execute(r));
  if (!isTable) return lines.map((l) => `${l}\n`).join('');
  let header: string | undefined;
  try {
    header = parseTemplate(body, { functions: HEADER_FUNCTIONS }).execute(headerData(template.fields, headers));
  } catch {
    // A template the header data cannot satisfy (e.g. range over a field) gets no header line.
    header = undefined;
  }
  const all = header === undefined ? lines : [header, ...lines];
  if (all.length === 0) return '';
  return trimLines(tabwrite(all.map((l) => `${l}\n`).join(''))).replace(/\n$/, '') + '\n';
}
