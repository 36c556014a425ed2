import { Option } from 'clipanion';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { reassembleTar } from '../../archive/tarsplit.js';
import { errorMessage } from '../../errors.js';
import { awaitUserNamespaceGo } from '../../runtime/userns.js';
import { CtrCommand } from '../command.js';

/** Worker: writes the exact layer tar of LAYER_DIR (diff/ + tar-split) to stdout; errors on stderr, exit 1. */
export class ReassembleWorkerCommand extends CtrCommand {
  static override paths = [['__reassemble']];

  layerDir = Option.String({ required: true });

  async execute(): Promise<number> {
    try {
      awaitUserNamespaceGo();
      await pipeline(Readable.from(reassembleTar(this.layerDir)), process.stdout);
      return 0;
    } catch (err) {
      this.context.stderr.write(`${errorMessage(err)}\n`);
      return 1;
    }
  }
}
