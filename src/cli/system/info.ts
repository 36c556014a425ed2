import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';
import { compileTemplate } from '../format/template.js';

export class InfoCommand extends CtrCommand {
  static override paths = [['info'], ['system', 'info']];
  static override usage = Command.Usage({
    category: 'System',
    description: 'show where ctr keeps its data and what it found on this host',
    details: 'Store paths, the OCI runtime found (crun, then runc), the storage mode, the rootless id mapping from /etc/subuid and /etc/subgid, and versions.',
    examples: [
      ['Show everything', '$0 info'],
      ['As JSON', '$0 info --format json'],
      ['Where images are kept', "$0 info --format '{{.store.root}}'"],
    ],
  });

  format = Option.String('-f,--format', { description: 'json, or a Go template' });

  async execute(): Promise<number> {
    const { info } = await import('../../engine/info.js');
    const data = await info(this.context.globals);
    if (this.format === 'json') this.context.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
    else if (this.format) this.context.stdout.write(`${compileTemplate(this.format)(data)}\n`);
    else this.context.stdout.write(toYaml(data, ''));
    return 0;
  }
}

/** The human form: indented key: value lines, as podman info prints. */
function toYaml(value: unknown, indent: string): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return ' []\n';
    return '\n' + value.map((v) => `${indent}- ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}\n`).join('');
  }
  if (typeof value === 'object' && value !== null) {
    let out = indent ? '\n' : '';
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      out += `${indent}${k}:${typeof v === 'object' && v !== null ? toYaml(v, indent + '  ') : ` ${String(v)}\n`}`;
    }
    return out;
  }
  return ` ${String(value)}\n`;
}
