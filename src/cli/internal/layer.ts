import { Option, UsageError } from 'clipanion';
import { pipeline } from 'node:stream/promises';
import { reassembleLayer, removeTree, startUnpack } from '../../engine/unpack.js';
import { detectIdMapping, singleIdMapping, type IdMapping } from '../../runtime/idmap.js';
import { CtrCommand } from '../command.js';

/**
 * Debugging and test driver for the layer engine: `__layer unpack DEST < layer.tgz` prints the
 * result as JSON, `__layer tar LAYER_DIR` writes the reassembled tar, `__layer rm PATH` removes.
 */
export class LayerDebugCommand extends CtrCommand {
  static override paths = [['__layer']];

  action = Option.String({ required: true });
  target = Option.String({ required: true });
  mediaType = Option.String('--media-type', 'application/vnd.oci.image.layer.v1.tar+gzip');
  single = Option.Boolean('--single', false);

  async execute(): Promise<number> {
    const mapping: IdMapping = this.single ? singleIdMapping(process.getuid!(), process.getgid!()) : detectIdMapping();
    switch (this.action) {
      case 'unpack': {
        const unpack = startUnpack({ dest: this.target, mapping, mediaType: this.mediaType });
        await pipeline(this.context.stdin, unpack.input).catch(() => {});
        const result = await unpack.done;
        this.context.stdout.write(`${JSON.stringify({ mode: mapping.mode, ...result })}\n`);
        return 0;
      }
      case 'tar':
        await pipeline(reassembleLayer(this.target, mapping), this.context.stdout);
        return 0;
      case 'rm':
        await removeTree(this.target, mapping);
        return 0;
      default:
        throw new UsageError(`unknown action ${this.action}: use unpack, tar or rm`);
    }
  }
}
