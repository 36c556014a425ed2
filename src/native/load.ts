import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Finds build/ctr_native.node beside the bundle (dist/../build) or the source tree. */
export function loadAddon(): unknown {
  const candidates = [
    join(dirname(__filename), '..', 'build', 'ctr_native.node'),
    join(dirname(__filename), '..', '..', 'build', 'ctr_native.node'),
  ];
  for (const file of candidates) {
    if (existsSync(file)) {
      const mod = { exports: {} as unknown };
      process.dlopen(mod, file);
      return mod.exports;
    }
  }
  throw new Error(`the native addon ctr_native.node was not found (looked in ${candidates.join(', ')}): run npm run build`);
}
