import { Command, Option } from 'clipanion';
import { CtrError } from '../../errors.js';
import { CtrCommand } from '../command.js';
import { authFileOption, certDirOption, credsOption, registryAccess, tlsVerifyOption } from '../options.js';
import { pushProgress } from '../push-progress.js';

export class PushCommand extends CtrCommand {
  static override paths = [['push'], ['image', 'push']];
  static override usage = Command.Usage({
    category: 'Images',
    description: 'upload an image to a registry',
    details: `
      Sends the image's layers, config and manifest to a registry, the manifest last. Layers the registry already has are skipped, layers in another repository of the same registry are mounted, and layers pulled from a registry that can still be reached are copied from there unchanged, so an image pushed as it was pulled keeps its digest. Other layers are compressed here (\`--compression-format\`, gzip by default) and get a new manifest.

      DESTINATION defaults to IMAGE's own name; \`docker://\` in front of it is accepted. Progress goes to standard error; \`TAG: digest: DIGEST size: N\` is printed on standard output when done (only the digest with \`-q\`).
    `,
    examples: [
      ['Push an image under its own name', '$0 push registry.example:5000/team/app:1.2'],
      ['Push a local image to a registry', '$0 push myapp:1 registry.example:5000/myapp:1'],
      ['OCI manifest with zstd layers', '$0 push --format oci --compression-format zstd myapp:1 registry.example:5000/myapp:1'],
      ['Keep the pushed digest for a later deploy', '$0 push --digestfile app.digest registry.example:5000/myapp:1'],
    ],
  });

  format = Option.String('-f,--format', { description: 'manifest format: oci or docker (default: as stored, oci for images made here)' });
  compressionFormat = Option.String('--compression-format', { description: 'compression for layers compressed here: gzip (default) or zstd' });
  digestFile = Option.String('--digestfile', { description: 'write the digest of the pushed manifest to this file' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'no progress; print only the digest' });
  tlsVerify = tlsVerifyOption();
  certDir = certDirOption();
  authFile = authFileOption();
  creds = credsOption();
  image = Option.String({ name: 'IMAGE' });
  destination = Option.String({ required: false, name: 'DESTINATION' });

  async execute(): Promise<number> {
    const format = oneOf(this.format, ['oci', 'docker'] as const, '--format');
    const compressionFormat = oneOf(this.compressionFormat, ['gzip', 'zstd'] as const, '--compression-format');
    const { push } = await import('../../engine/push.js');
    const progress = pushProgress(this.context.stderr, this.quiet);
    try {
      const r = await push({
        ...this.context.globals,
        image: this.image,
        destination: this.destination,
        format,
        compressionFormat,
        digestFile: this.digestFile,
        ...registryAccess(this),
        progress,
      });
      this.context.stdout.write(this.quiet ? `${r.digest}\n` : `${r.tag}: digest: ${r.digest} size: ${r.size}\n`);
    } finally {
      progress.finish();
    }
    return 0;
  }
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], flag: string): T | undefined {
  if (value === undefined) return undefined;
  const v = value.toLowerCase();
  if (v === 'v2s2') return oneOf('docker', allowed, flag);
  if (!(allowed as readonly string[]).includes(v)) throw new CtrError(`${flag} takes ${allowed.join(' or ')}, not "${value}"`);
  return v as T;
}
