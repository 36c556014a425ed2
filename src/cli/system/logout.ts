import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';
import { authFileOption } from '../options.js';

export class LogoutCommand extends CtrCommand {
  static override paths = [['logout']];
  static override usage = Command.Usage({
    category: 'Images',
    description: 'remove stored credentials for a registry',
    details: `
      Deletes the registry's entry (under any spelling of its name) from the auth file \`ctr login\` writes: \`--authfile\`, \`$REGISTRY_AUTH_FILE\`, or \`\${XDG_CONFIG_HOME:-~/.config}/containers/auth.json\`. Other entries stay. Credentials that only docker's \`~/.docker/config.json\` holds are left alone; ctr says so. Without a registry name, Docker Hub (docker.io) is meant.
    `,
    examples: [
      ['Log out of a private registry', '$0 logout registry.example:5000'],
      ['Forget every stored login', '$0 logout --all'],
    ],
  });

  all = Option.Boolean('-a,--all', false, { description: 'remove the credentials of every registry' });
  authFile = authFileOption();
  registry = Option.String({ name: 'REGISTRY', required: false });

  async execute(): Promise<number> {
    const { logout } = await import('../../engine/login.js');
    const result = await logout({ registry: this.registry, all: this.all, authFile: this.authFile });
    this.context.stdout.write(this.all ? 'Removed login credentials for all registries\n' : `Removed login credentials for ${result.removed[0]}\n`);
    return 0;
  }
}
