import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';

export class PortCommand extends CtrCommand {
  static override paths = [['port'], ['container', 'port']];
  static override usage = Command.Usage({
    category: 'Containers',
    description: "list a container's published ports",
    details: 'Prints each published port as `80/tcp -> 0.0.0.0:8080`; with a private port (80 or 80/udp), only the addresses it is published on. A container that does not run publishes nothing.',
    examples: [
      ['Every published port', '$0 port web'],
      ['Where port 80/tcp is published', '$0 port web 80'],
    ],
  });

  container = Option.String({ name: 'CONTAINER' });
  privatePort = Option.String({ name: 'PRIVATE_PORT[/PROTO]', required: false });

  async execute(): Promise<number> {
    const { containerPorts } = await import('../../engine/port.js');
    const lines = await containerPorts({ ...this.context.globals, container: this.container, privatePort: this.privatePort });
    for (const line of lines) this.context.stdout.write(`${line}\n`);
    return 0;
  }
}
