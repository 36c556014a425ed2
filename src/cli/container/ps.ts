import { Command, Option } from 'clipanion';
import { shortId } from '../../image/digest.js';
import { CtrCommand } from '../command.js';
import { renderList } from '../format/table.js';
import { humanDuration, humanSize, timeAgo } from '../format/units.js';

export class PsCommand extends CtrCommand {
  static override paths = [['ps'], ['container', 'ls'], ['container', 'list'], ['container', 'ps']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: 'list containers',
    details: `
      Shows running containers; \`-a\` shows all of them. Containers whose process died while no ctr ran are shown as exited. \`--format\` takes a Go template (fields: ID, Image, Command, CreatedAt, RunningFor, Status, State, Names, Labels, Mounts, Size), \`table\` followed by a template, or \`json\`.
    `,
    examples: [
      ['Running containers', '$0 ps'],
      ['All containers, IDs only', '$0 ps -aq'],
      ['Exited containers of an image', '$0 ps -a --filter status=exited --filter ancestor=busybox'],
      ['Names and states', "$0 ps -a --format '{{.Names}} {{.State}}'"],
    ],
  });

  all = Option.Boolean('-a,--all', false, { description: 'show all containers, not only running ones' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'print only container IDs' });
  noTrunc = Option.Boolean('--no-trunc', false, { description: 'do not shorten IDs and commands' });
  size = Option.Boolean('-s,--size', false, { description: 'show the size of what each container wrote' });
  latest = Option.Boolean('-l,--latest', false, { description: 'show only the newest container' });
  last = Option.String('-n,--last', { description: 'show only the N newest containers' });
  format = Option.String('--format', { description: 'Go template, table TEMPLATE, or json' });
  filters = Option.Array('-f,--filter', [], { description: 'status=, name=, id=, ancestor=, label=KEY[=VALUE], exited=CODE' });

  async execute(): Promise<number> {
    const { listContainers } = await import('../../engine/containers.js');
    let rows = await listContainers({ ...this.context.globals, all: this.all || this.latest || this.last !== undefined, filters: this.filters, size: this.size });
    if (this.latest) rows = rows.slice(0, 1);
    if (this.last !== undefined) rows = rows.slice(0, Number(this.last));
    const now = Date.now();
    const data = rows.map((r) => {
      const command = this.noTrunc || r.command.length <= 20 ? r.command : `${r.command.slice(0, 19)}…`;
      return {
        ID: this.noTrunc ? r.id : shortId(r.id),
        Image: r.image,
        Command: `"${command}"`,
        CreatedAt: r.created,
        RunningFor: timeAgo(new Date(r.created), now),
        Status: statusText(r, now),
        State: r.status,
        Names: r.name,
        Ports: '',
        Labels: Object.entries(r.labels).map(([k, v]) => `${k}=${v}`).join(','),
        Mounts: r.mounts.join(','),
        Size: r.sizeRw !== undefined ? humanSize(r.sizeRw) : '',
      };
    });
    if (this.quiet) {
      this.context.stdout.write(data.map((d) => `${d.ID}\n`).join(''));
      return 0;
    }
    this.context.stdout.write(
      renderList({
        format: this.format,
        rows: data,
        defaultColumns: ['ID', 'Image', 'Command', 'RunningFor', 'Status', 'Ports', 'Names', ...(this.size ? ['Size'] : [])],
        headers: { ID: 'CONTAINER ID', RunningFor: 'CREATED', Names: 'NAMES', CreatedAt: 'CREATED AT' },
      }),
    );
    return 0;
  }
}

/** docker's STATUS column: "Up 3 minutes", "Exited (7) 2 seconds ago", "Restarting (1) 1 second ago", "Created". */
export function statusText(r: { status: string; exitCode?: number; startedAt?: string; finishedAt?: string }, now: number): string {
  switch (r.status) {
    case 'restarting':
      return `Restarting (${r.exitCode ?? 0}) ${r.finishedAt ? timeAgo(new Date(r.finishedAt), now) : ''}`.trim();
    case 'running':
      return `Up ${humanDuration(now - Date.parse(r.startedAt ?? new Date(now).toISOString()))}`;
    case 'paused':
      return `Up ${humanDuration(now - Date.parse(r.startedAt ?? new Date(now).toISOString()))} (Paused)`;
    case 'exited':
      return `Exited (${r.exitCode ?? 0}) ${r.finishedAt ? timeAgo(new Date(r.finishedAt), now) : ''}`.trim();
    default:
      return 'Created';
  }
}
