import { Option } from 'clipanion';
import { writeSync } from 'node:fs';
import type { Ownership } from '../../archive/apply.js';
import { unpackLayer } from '../../archive/unpack.js';
import { errorMessage } from '../../errors.js';
import { awaitUserNamespaceGo } from '../../runtime/userns.js';
import { CtrCommand } from '../command.js';

/**
 * Worker: reads a compressed layer on stdin, unpacks it into --dest (diff/ + tar-split) and
 * prints one JSON line: {"ok":true,"diffId","size","notices"} or {"ok":false,"error"}.
 * Started by engine/unpack.ts, inside the user namespace when rootless.
 */
export class UnpackWorkerCommand extends CtrCommand {
  static override paths = [['__unpack']];

  dest = Option.String('--dest', { required: true });
  mediaType = Option.String('--media-type', '');
  ownership = Option.String('--ownership', 'root');
  maxUid = Option.String('--max-uid', '0');
  maxGid = Option.String('--max-gid', '0');
  opaqueXattr = Option.String('--opaque-xattr', 'trusted.overlay.opaque');
  user = Option.String('--user');

  async execute(): Promise<number> {
    try {
      awaitUserNamespaceGo();
      process.umask(0);
      const result = await unpackLayer(process.stdin, {
        dest: this.dest,
        mediaType: this.mediaType,
        ownership: this.ownership as Ownership,
        maxUid: Number(this.maxUid),
        maxGid: Number(this.maxGid),
        opaqueXattr: this.opaqueXattr,
        user: this.user,
      });
      writeSync(1, `${JSON.stringify({ ok: true, ...result })}\n`);
      return 0;
    } catch (err) {
      process.stdin.destroy();
      writeSync(1, `${JSON.stringify({ ok: false, error: errorMessage(err) })}\n`);
      return 1;
    }
  }
}
