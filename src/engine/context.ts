import { rm } from 'node:fs';
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
    // node:fs's rm, not fs/promises': loading that one (and the readline code it pulls in) takes ~3 ms.
    if (await new Promise<boolean>((resolve) => rm(path, { recursive: true, force: true }, (err) => resolve(!err)))) return;
    return (await import('./unpack.js')).removeTree(path, mapping);
  };
  const store = Store.open({ root: opts.root, runroot: opts.runroot, remover });
  return { store, mapping };
}
