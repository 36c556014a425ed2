import { CtrError } from '../errors.js';
import { findContainer } from './containers.js';
import { openEngine, type EngineOptions } from './context.js';

export interface RenameOptions extends EngineOptions {
  container: string;
  newName: string;
}

/** docker's rule for container names (the same as at create). */
export function checkContainerName(name: string): void {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw new CtrError(`invalid container name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
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
    const other = containers.find((x) => x.name === newName);
    if (other) throw new CtrError(`the container name "${newName}" is already in use by container ${other.id.slice(0, 12)}; remove it (ctr rm ${newName}) or choose another name`);
    c.name = newName;
  });
}
