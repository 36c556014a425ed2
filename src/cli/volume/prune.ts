import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';
import { humanSize } from '../format/units.js';

export class VolumePruneCommand extends CtrCommand {
  static override paths = [['volume', 'prune']];
  static override usage = Command.Usage({
    category: 'Volumes',
    description: 'remove volumes no container uses',
    details: `
      Removes the anonymous volumes (those \`ctr run\` made for an image's VOLUME or a \`-v /path\`) that no container uses, and reports the space freed; with \`-a\`, named volumes no container uses go too (docker >= 23 does the same). Filters: \`label=KEY[=VALUE]\`, \`label!=KEY[=VALUE]\`. ctr never asks for confirmation: \`-f\` is accepted for docker compatibility.
    `,
    examples: [
      ['Remove unused anonymous volumes', '$0 volume prune'],
      ['Remove every unused volume', '$0 volume prune -a'],
      ['Only those of one project', '$0 volume prune -a --filter label=project=web'],
    ],
  });

  all = Option.Boolean('-a,--all', false, { description: 'remove unused named volumes too' });
  force = Option.Boolean('-f,--force', false, { description: 'do not ask (ctr never asks)' });
  filters = Option.Array('--filter', [], { description: 'label=KEY[=VALUE], label!=KEY[=VALUE]' });

  async execute(): Promise<number> {
    const { pruneVolumes } = await import('../../engine/volume.js');
    const result = await pruneVolumes({ ...this.context.globals, all: this.all, filters: this.filters });
    if (result.deleted.length > 0) {
      this.context.stdout.write(`Deleted Volumes:\n${result.deleted.map((n) => `${n}\n`).join('')}\n`);
    }
    this.context.stdout.write(`Total reclaimed space: ${humanSize(result.reclaimed, 4)}\n`);
    return 0;
  }
}
