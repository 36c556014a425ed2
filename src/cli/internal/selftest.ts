import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { native } from '../../native/index.js';
import { CtrCommand } from '../command.js';

/** Proves the executable can load its addon and call into it (used by the packaging tests). */
export class SelftestNativeCommand extends CtrCommand {
  static override paths = [['__selftest-native']];

  async execute(): Promise<number> {
    const dir = mkdtempSync(join(tmpdir(), 'ctr-selftest-'));
    try {
      const fd = openSync(join(dir, 'lock'), 'w');
      try {
        const locked = native().flock(fd, true, true);
        native().funlock(fd);
        this.context.stdout.write(locked ? 'ok\n' : 'flock refused\n');
        return locked ? 0 : 1;
      } finally {
        closeSync(fd);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
