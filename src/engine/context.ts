import { rm } from 'node:fs/promises';
import { detectIdMapping, type IdMapping } from '../runtime/idmap.js';
import { Store } from '../store/store.js';

/** Options every engine call takes: where the store is (the CLI's global flags). */
export interface EngineOptions {
  root?: string;
  runroot?: string;
}

export interface Engine {
  store: Store;
  mapping: IdMapping;
}

/** Opens the store for this user, with the id mapping that decides how files are owned. */
export function openEngine(opts: EngineOptions = {}): Engine {
  const mapping = detectIdMapping();
  const remover = async (path: string): Promise<void> => {
    // A plain rm removes most trees; the unpacker (with the user-namespace fallback) is slow to load.
    if (await rm(path, { recursive: true, force: true }).then(() => true, () => false)) return;
    return (await import('./unpack.js')).removeTree(path, mapping);
  };
  const store = Store.open({ root: opts.root, runroot: opts.runroot, remover });
  return { store, mapping };
}
