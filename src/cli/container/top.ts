import { Command, Option } from 'clipanion';
import { tabwrite } from '../format/table.js';
import { CtrCommand } from '../command.js';

export class TopCommand extends CtrCommand {
  static override paths = [['top'], ['container', 'top']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: "list a running container's processes",
    details:
      "Runs `ps` on this machine (with `-ef` unless other ps options follow the container) and keeps the rows of the container's processes: those in its process namespace. " +
      'Ids and times are as this machine sees them. Works rootless without cgroups.',
    examples: [
      ['The processes of a container', '$0 top web'],
      ['With the columns you choose', '$0 top web -o pid,user,rss,args'],
      ['BSD style', '$0 top web aux'],
    ],
  });

  container = Option.String({ name: 'CONTAINER' });
  psArgs = Option.Proxy({ name: 'PS_OPTIONS' });

  async execute(): Promise<number> {
    const { containerTop } = await import('../../engine/top.js');
    const top = await containerTop({ ...this.context.globals, container: this.container, psArgs: this.psArgs });
    const lines = [top.titles, ...top.processes].map((cells) => cells.join('\t'));
    // docker's tabwriter for top: minimum width 20, padding 3.
    this.context.stdout.write(tabwrite(`${lines.join('\n')}\n`, { minWidth: 20, padding: 3 }));
    return 0;
  }
}
