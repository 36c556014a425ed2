import { Command, Option } from 'clipanion';
import { CtrError } from '../../errors.js';
import { CtrCommand } from '../command.js';
import { parseDuration } from '../format/units.js';

export class LogsCommand extends CtrCommand {
  static override paths = [['logs'], ['container', 'logs']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: 'show what a container printed',
    details: 'Its standard output goes to standard output and its standard error to standard error, line by line as it printed them. `--since` and `--until` take a time (2024-01-02T15:04:05Z) or a duration before now (10m, 1h30m).',
    examples: [
      ['Everything a container printed', '$0 logs web'],
      ['Follow new output', '$0 logs -f web'],
      ['The last 20 lines with times', '$0 logs --tail 20 -t web'],
      ['The last ten minutes', '$0 logs --since 10m web'],
    ],
  });

  follow = Option.Boolean('-f,--follow', false, { description: 'keep printing new output until the container stops' });
  tail = Option.String('-n,--tail', { description: 'only the last N lines (default all)' });
  since = Option.String('--since', { description: 'only output since a time or a duration ago' });
  until = Option.String('--until', { description: 'only output before a time or a duration ago' });
  timestamps = Option.Boolean('-t,--timestamps', false, { description: 'begin each line with its time' });
  container = Option.String({ name: 'CONTAINER' });

  async execute(): Promise<number> {
    const { containerLogs } = await import('../../engine/logs.js');
    const tail = this.tail === undefined || this.tail === 'all' ? undefined : Number(this.tail);
    if (tail !== undefined && (!Number.isInteger(tail) || tail < 0)) throw new CtrError(`--tail takes a number of lines or "all", not "${this.tail}"`);
    for await (const e of containerLogs({
      ...this.context.globals,
      container: this.container,
      follow: this.follow,
      tail,
      since: parseTime(this.since, '--since'),
      until: parseTime(this.until, '--until'),
    })) {
      const out = e.stream === 'stderr' ? this.context.stderr : this.context.stdout;
      out.write(this.timestamps ? Buffer.concat([Buffer.from(`${e.time} `), e.data]) : e.data);
    }
    return 0;
  }
}

/** A time as docker takes it: RFC 3339, Unix seconds, or a Go duration meaning that long ago. */
function parseTime(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const t = Date.parse(value);
  if (!Number.isNaN(t)) return t;
  try {
    return Date.now() - parseDuration(value);
  } catch {
    throw new CtrError(`${flag} takes a time (2024-01-02T15:04:05Z), Unix seconds or a duration (10m), not "${value}"`);
  }
}
