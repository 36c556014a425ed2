import { Command, Option } from 'clipanion';
import { CtrCommand } from '../command.js';
import { authFileOption, certDirOption, credsOption, registryAccess, tlsVerifyOption } from '../options.js';
import { pullProgress } from '../progress.js';

export class PullCommand extends CtrCommand {
  static override paths = [['pull'], ['image', 'pull']];
  static override usage = Command.Usage({
    category: 'Images',
    description: 'download an image from a registry',
    details: `
      Fetches the image's manifest and config, downloads the layers in parallel and unpacks each one once into the store, verified against its digest. A short name such as \`busybox\` means \`docker.io/library/busybox:latest\`. For a multi-platform image the one for this host is chosen unless \`--platform\` says otherwise.

      Progress goes to standard error (bars on a terminal, plain lines otherwise); the image ID is printed on standard output when done.
    `,
    examples: [
      ['Pull the latest busybox from Docker Hub', '$0 pull busybox'],
      ['Pull from a private registry', '$0 pull registry.example:5000/team/app:1.2'],
      ['Pull a pinned digest for arm64', '$0 pull --platform linux/arm64 alpine@sha256:<digest>'],
      ['Print only the image ID', '$0 pull -q busybox'],
      ['Every tag of a repository', '$0 pull --all-tags registry.example:5000/team/app'],
    ],
  });

  quiet = Option.Boolean('-q,--quiet', false, { description: 'print only the image ID' });
  allTags = Option.Boolean('-a,--all-tags', false, { description: 'pull every tagged image of the repository' });
  platform = Option.String('--platform', { description: 'OS/ARCH[/VARIANT] to pull (default: this host)' });
  tlsVerify = tlsVerifyOption();
  certDir = certDirOption();
  authFile = authFileOption();
  creds = credsOption();
  reference = Option.String({ name: 'IMAGE' });

  async execute(): Promise<number> {
    const { pull } = await import('../../engine/pull.js');
    const progress = pullProgress(this.context.stderr, this.quiet);
    try {
      const results = await pull({
        ...this.context.globals,
        reference: this.reference,
        platform: this.platform,
        allTags: this.allTags,
        ...registryAccess(this),
        progress,
      });
      for (const r of results) this.context.stdout.write(`${r.id.slice('sha256:'.length)}\n`);
    } finally {
      progress.finish();
    }
    return 0;
  }
}
