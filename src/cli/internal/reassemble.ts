import { Option } from 'clipanion';
import { TarSplitReader } from '../../archive/tarsplit.js';
import { errorMessage } from '../../errors.js';
import { awaitUserNamespaceGo } from '../../runtime/userns.js';
import { CtrCommand } from '../command.js';
import { writeAll } from './layer-tar.js';

const CHUNK = 1 << 20;

/** Worker: writes the exact layer tar of LAYER_DIR (diff/ + tar-split) to stdout; errors on stderr, exit 1. */
export class ReassembleWorkerCommand extends CtrCommand {
  static override paths = [['__reassemble']];

  layerDir = Option.String({ required: true });

  async execute(): Promise<number> {
    try {
      awaitUserNamespaceGo();
      const reader = new TarSplitReader(this.layerDir);
      const buf = Buffer.allocUnsafe(CHUNK);
      for (let n = reader.read(buf); n > 0; n = reader.read(buf)) writeAll(1, buf.subarray(0, n));
      return 0;
    } catch (err) {
      this.context.stderr.write(`${errorMessage(err)}\n`);
      return 1;
    }
  }
}
