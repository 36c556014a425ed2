import { detectIdMapping, type IdMapping } from '../runtime/idmap.js';
import { Store } from '../store/store.js';
import { removeTree } from './unpack.js';

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
  const store = Store.open({ root: opts.root, runroot: opts.runroot, remover: (path) => removeTree(path, mapping) });
  return { store, mapping };
}
