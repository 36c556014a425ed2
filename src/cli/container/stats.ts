import { Command, Option } from 'clipanion';
import type { ContainerStats } from '../../engine/stats.js';
import { shortId } from '../../image/digest.js';
import { CtrCommand } from '../command.js';
import { formatFloat } from '../format/gofmt.js';
import { renderList } from '../format/table.js';
import { humanSize } from '../format/units.js';

export class StatsCommand extends CtrCommand {
  static override paths = [['stats'], ['container', 'stats']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: "show containers' use of CPU, memory, network, disk and processes",
    details: `
      Shows docker's columns for each container (all running ones when none is named), refreshed every second until interrupted; \`--no-stream\` prints one measurement and exits. CPU % is CPU time over wall time, 100% being one CPU.

      The numbers come from the container's cgroup where ctr can read it (as root). Rootless containers on a host without a delegated cgroup have none: ctr then adds up the processes of the container's pid namespace (CPU time, resident memory, disk I/O), and the limit shown is the host's memory.

      \`--format\` takes a Go template (fields: Container, ID, Name, CPUPerc, MemUsage, MemPerc, NetIO, BlockIO, PIDs), \`table\` followed by a template, or \`json\`.
    `,
    examples: [
      ['One measurement of every running container', '$0 stats --no-stream'],
      ['Only names and memory', "$0 stats --no-stream --format '{{.Name}} {{.MemUsage}}' web db"],
    ],
  });

  all = Option.Boolean('-a,--all', false, { description: 'show all containers, not only running ones' });
  noStream = Option.Boolean('--no-stream', false, { description: 'print one measurement and exit' });
  noTrunc = Option.Boolean('--no-trunc', false, { description: 'do not shorten IDs' });
  format = Option.String('--format', { description: 'Go template, table TEMPLATE, or json' });
  containers = Option.Rest({ name: 'CONTAINER' });

  async execute(): Promise<number> {
    const { streamStats } = await import('../../engine/stats.js');
    const out = this.context.stdout;
    const stream = streamStats({ ...this.context.globals, containers: this.containers, all: this.all });
    // On a terminal each refresh replaces the last one, as docker's does.
    const redraw = !this.noStream && (out as { isTTY?: boolean }).isTTY === true;
    for await (const rows of stream) {
      const text = this.render(rows);
      out.write(redraw ? `\x1b[2J\x1b[H${text}` : text);
      if (this.noStream) break;
    }
    return 0;
  }

  private render(rows: ContainerStats[]): string {
    const data = rows.map((s) => ({
      Container: s.container,
      ID: this.noTrunc ? s.id : shortId(s.id),
      Name: s.name,
      CPUPerc: `${s.cpuPercent.toFixed(2)}%`,
      MemUsage: `${binarySize(s.memUsage)} / ${binarySize(s.memLimit)}`,
      MemPerc: `${s.memPercent.toFixed(2)}%`,
      NetIO: `${humanSize(s.netRx)} / ${humanSize(s.netTx)}`,
      BlockIO: `${humanSize(s.blockRead)} / ${humanSize(s.blockWrite)}`,
      PIDs: String(s.pids),
    }));
    return renderList({
      format: this.format,
      rows: data,
      defaultColumns: ['ID', 'Name', 'CPUPerc', 'MemUsage', 'MemPerc', 'NetIO', 'BlockIO', 'PIDs'],
      headers: {
        Container: 'CONTAINER',
        ID: 'CONTAINER ID',
        Name: 'NAME',
        CPUPerc: 'CPU %',
        MemUsage: 'MEM USAGE / LIMIT',
        MemPerc: 'MEM %',
        NetIO: 'NET I/O',
        BlockIO: 'BLOCK I/O',
        PIDs: 'PIDS',
      },
    });
  }
}

const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

/** go-units BytesSize, docker's memory column: binary units, Go's %.4g ("1.5MiB", "23.44GiB"). */
function binarySize(bytes: number): string {
  let size = bytes;
  let i = 0;
  while (size >= 1024 && i < BINARY_UNITS.length - 1) {
    size /= 1024;
    i++;
  }
  return formatFloat(size, 'g', 4) + BINARY_UNITS[i];
}
