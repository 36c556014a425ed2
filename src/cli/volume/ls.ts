import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';
import { renderList } from '../format/table.js';

export class VolumeLsCommand extends CtrCommand {
  static override paths = [['volume', 'ls'], ['volume', 'list']];
  static override usage = Command.Usage({
    category: 'Volumes',
    description: 'list volumes',
    details: `
      Shows one line per volume, sorted by name. Filters: \`dangling=true\` (no container uses it), \`name=PATTERN\`, \`label=KEY\` or \`label=KEY=VALUE\`, \`driver=local\`; several of the same key match any of them, except \`label\`, which must all match. \`--format\` takes a Go template (\`{{.Name}}\`), \`table\` followed by a template, or \`json\`. Template fields: Name, Driver, Scope, Mountpoint, Labels, Links, CreatedAt.
    `,
    examples: [
      ['List volumes', '$0 volume ls'],
      ['Only the names, for scripts', '$0 volume ls -q'],
      ['Volumes no container uses', '$0 volume ls --filter dangling=true'],
      ['Names and where their data lives', "$0 volume ls --format '{{.Name}}\\t{{.Mountpoint}}'"],
    ],
  });

  quiet = Option.Boolean('-q,--quiet', false, { description: 'print only volume names' });
  format = Option.String('--format', { description: 'Go template, table TEMPLATE, or json' });
  filters = Option.Array('-f,--filter', [], { description: 'dangling=true|false, name=PATTERN, label=KEY[=VALUE], driver=local' });

  async execute(): Promise<number> {
    const { listVolumes } = await import('../../engine/volume.js');
    const rows = listVolumes({ ...this.context.globals, filters: this.filters, quiet: this.quiet && !this.format });
    const data = rows.map((r) => ({
      Name: r.name,
      Driver: r.driver,
      Scope: r.scope,
      Mountpoint: r.mountpoint,
      CreatedAt: r.createdAt,
      Labels: Object.entries(r.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
      Links: r.links === undefined ? 'N/A' : String(r.links),
      Size: 'N/A',
    }));
    this.context.stdout.write(
      renderList({
        format: this.format,
        rows: data,
        defaultColumns: ['Driver', 'Name'],
        quiet: this.quiet,
        quietField: 'Name',
        headers: { Name: 'VOLUME NAME' },
      }),
    );
    return 0;
  }
}
