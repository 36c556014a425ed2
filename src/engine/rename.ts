import { CtrError } from '../errors.js';
import { checkContainerName, checkNameFree, findContainer } from './containers.js';
import { openEngine, type EngineOptions } from './context.js';

export interface RenameOptions extends EngineOptions {
  container: string;
  newName: string;
}

/** `ctr rename`: a new name for a container, running or not; the old name is free at once. */
export async function renameContainer(opts: RenameOptions): Promise<void> {
  const { store } = openEngine(opts);
  const newName = opts.newName.replace(/^\//, '');
  if (opts.container === '' || newName === '') throw new CtrError('neither the old nor the new name may be empty');
  checkContainerName(newName);
  await store.updateContainers((containers) => {
    const c = findContainer(containers, opts.container);
    if (!c) throw new CtrError(`no such container: ${opts.container}`);
    if (c.name === newName) throw new CtrError(`container ${c.name} is already called ${newName}; give a different name`);
    checkNameFree(containers, newName);
    c.name = newName;
  });
}
