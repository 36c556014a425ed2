import { Command, Option } from 'clipanion';
import { shortId } from '../../image/digest.js';
import { CtrCommand } from '../command.js';
import { renderList } from '../format/table.js';
import { humanSize, timeAgo } from '../format/units.js';

export class ImagesCommand extends CtrCommand {
  static override paths = [['images'], ['image', 'ls'], ['image', 'list']];
  static override usage = Command.Usage({
    category: 'Images',
    description: 'list the images in the store',
    details: `
      Shows one line per image name; an image without a name shows as \`<none>\`. \`--format\` takes a Go template (\`{{.Repository}}:{{.Tag}}\`), \`table\` followed by a template for aligned columns, or \`json\`. Template fields: ID, Repository, Tag, Digest, CreatedSince, CreatedAt, Size.
    `,
    examples: [
      ['List images', '$0 images'],
      ['Only the IDs, for scripts', '$0 images -q'],
      ['Images without a name', '$0 images --filter dangling=true'],
      ['Custom columns', "$0 images --format 'table {{.Repository}}\\t{{.Tag}}\\t{{.Size}}'"],
    ],
  });

  all = Option.Boolean('-a,--all', false, { description: 'show all images (ctr keeps no intermediate images: same as without)' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'print only image IDs' });
  digests = Option.Boolean('--digests', false, { description: 'show the DIGEST column' });
  noTrunc = Option.Boolean('--no-trunc', false, { description: 'show full image IDs' });
  format = Option.String('--format', { description: 'Go template, table TEMPLATE, or json' });
  filters = Option.Array('-f,--filter', [], { description: 'dangling=true|false, reference=PATTERN, label=KEY[=VALUE]' });
  reference = Option.String({ required: false, name: 'REPOSITORY[:TAG]' });

  async execute(): Promise<number> {
    const { listImages } = await import('../../engine/images.js');
    const filters = [...this.filters, ...(this.reference ? [`reference=${this.reference}`] : [])];
    const rows = listImages({ ...this.context.globals, all: this.all, filters });
    const now = Date.now();
    const id = (full: string) => (this.noTrunc ? full : shortId(full));
    const data = rows.map((r) => ({
      ID: id(r.id),
      Repository: r.repository,
      Tag: r.tag,
      Digest: r.digest || '<none>',
      CreatedSince: r.created ? timeAgo(new Date(r.created), now) : 'N/A',
      CreatedAt: r.created ?? '',
      Size: humanSize(r.size),
    }));
    if (this.quiet) {
      const ids = [...new Set(data.map((d) => d.ID))];
      this.context.stdout.write(ids.map((i) => `${i}\n`).join(''));
      return 0;
    }
    const columns = ['Repository', 'Tag', ...(this.digests ? ['Digest'] : []), 'ID', 'CreatedSince', 'Size'];
    this.context.stdout.write(
      renderList({
        format: this.format,
        rows: data,
        defaultColumns: columns,
        headers: { ID: 'IMAGE ID', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT' },
      }),
    );
    return 0;
  }
}
