import { Option } from 'clipanion';
import { CtrCommand } from '../command.js';

/**
 * Test driver for docker's copy-up, which `run` does itself: `__volume-populate NAME DIR` copies
 * DIR into volume NAME if the volume is empty and prints {"copied": true|false}.
 */
export class VolumePopulateCommand extends CtrCommand {
  static override paths = [['__volume-populate']];

  name = Option.String({ required: true });
  source = Option.String({ required: true });

  async execute(): Promise<number> {
    const { openEngine } = await import('../../engine/context.js');
    const { populateFromImage } = await import('../../engine/volume.js');
    const { store, mapping } = openEngine(this.context.globals);
    const copied = await populateFromImage(store, this.name, this.source, mapping);
    this.context.stdout.write(`${JSON.stringify({ copied })}\n`);
    return 0;
  }
}
