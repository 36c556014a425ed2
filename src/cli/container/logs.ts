import { Command, Option } from 'clipanion';
import { CtrError } from '../../errors.js';
import { formatLogTime, logTimeNs } from '../../store/logs.js';
import { CtrCommand } from '../command.js';

export class LogsCommand extends CtrCommand {
  static override paths = [['logs'], ['container', 'logs']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: 'show what a container printed',
    details:
      'Its standard output goes to standard output and its standard error to standard error, line by line as it printed them. ' +
      '`--since` and `--until` take a time (2024-01-02T15:04:05Z, 2024-01-02, a time without an offset is local), Unix seconds (1704207845.5) or a duration before now (10m, 1h30m). ' +
      'With `-f`, ctr keeps printing what the container prints and ends when it stops.',
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
  timestamps = Option.Boolean('-t,--timestamps', false, { description: 'begin each line with its time (RFC 3339, nanoseconds, UTC)' });
  container = Option.String({ name: 'CONTAINER' });

  async execute(): Promise<number> {
    const { containerLogs } = await import('../../engine/logs.js');
    const tail = this.tail === undefined || this.tail === 'all' ? undefined : Number(this.tail);
    if (tail !== undefined && (!/^-?\d+$/.test(this.tail!) || !Number.isInteger(tail))) throw new CtrError(`--tail takes a number of lines or "all", not "${this.tail}"`);
    const out = { stdout: this.context.stdout, stderr: this.context.stderr };
    let gone = false;
    // A reader that goes away (| head) ends the command quietly.
    for (const s of Object.values(out)) s.on('error', () => (gone = true));
    for await (const e of containerLogs({
      ...this.context.globals,
      container: this.container,
      follow: this.follow,
      // docker: a negative tail means everything.
      tail: tail !== undefined && tail < 0 ? undefined : tail,
      since: this.since,
      until: this.until,
    })) {
      if (gone) break;
      const ns = this.timestamps ? logTimeNs(e.time) : undefined;
      const prefix = this.timestamps ? `${ns === undefined ? e.time : formatLogTime(ns)} ` : '';
      out[e.stream].write(prefix ? Buffer.concat([Buffer.from(prefix), e.data]) : e.data);
    }
    return 0;
  }
}
