import { Command, Option } from 'clipanion';
import { shortId } from '../../image/digest.js';
import { CtrCommand } from '../command.js';
import { renderList } from '../format/table.js';
import { humanSize, timeAgo } from '../format/units.js';

export class HistoryCommand extends CtrCommand {
  static override paths = [['history'], ['image', 'history']];
  static override usage = Command.Usage({
    category: 'Images',
    description: 'show how an image was built, layer by layer',
    examples: [
      ['Show the history', '$0 history busybox'],
      ['Full commands', '$0 history --no-trunc busybox'],
    ],
  });

  quiet = Option.Boolean('-q,--quiet', false, { description: 'print only the IDs' });
  noTrunc = Option.Boolean('--no-trunc', false, { description: 'do not shorten IDs and commands' });
  human = Option.Boolean('-H,--human', true, { description: 'sizes and dates in human form (default true)' });
  format = Option.String('--format', { description: 'Go template, table TEMPLATE, or json' });
  image = Option.String({ name: 'IMAGE' });

  async execute(): Promise<number> {
    const { imageHistory } = await import('../../engine/images.js');
    const rows = imageHistory({ ...this.context.globals, image: this.image });
    const now = Date.now();
    const data = rows.map((r) => ({
      ID: r.id === '<missing>' || this.noTrunc ? r.id : shortId(r.id),
      CreatedSince: r.created ? (this.human ? timeAgo(new Date(r.created), now) : r.created) : 'N/A',
      CreatedAt: r.created ?? '',
      CreatedBy: this.noTrunc || r.createdBy.length <= 45 ? r.createdBy : `${r.createdBy.slice(0, 44)}…`,
      Size: this.human ? humanSize(r.size) : String(r.size),
      Comment: r.comment,
    }));
    if (this.quiet) {
      this.context.stdout.write(data.map((d) => `${d.ID}\n`).join(''));
      return 0;
    }
    this.context.stdout.write(
      renderList({
        format: this.format,
        rows: data,
        defaultColumns: ['ID', 'CreatedSince', 'CreatedBy', 'Size', 'Comment'],
        headers: { ID: 'IMAGE', CreatedSince: 'CREATED', CreatedBy: 'CREATED BY', CreatedAt: 'CREATED AT' },
      }),
    );
    return 0;
  }
}
