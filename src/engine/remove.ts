import { chmodSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CtrError, errorMessage } from '../errors.js';
import { detectIdMapping } from '../runtime/idmap.js';
import { findRuntime, RuntimeClient } from '../runtime/oci.js';
import { spawnInUserNamespace } from '../runtime/userns.js';
import type { ContainerRecord } from '../store/containers.js';
import type { Store } from '../store/store.js';
import { findContainer, isAlive, reconcile } from './containers.js';
import { openEngine, type EngineOptions } from './context.js';
import { removeContainerVolumes } from './volume.js';

export interface RemoveContainersOptions extends EngineOptions {
  containers: string[];
  force?: boolean;
  /** Also remove the container's anonymous volumes. */
  volumes?: boolean;
  runtime?: string;
}

export interface RemoveContainersResult {
  removed: string[];
  errors: string[];
}

/** rm: a running container needs --force (then it is killed first). */
export async function removeContainers(opts: RemoveContainersOptions): Promise<RemoveContainersResult> {
  const { store } = openEngine(opts);
  const result: RemoveContainersResult = { removed: [], errors: [] };
  const containers = await reconcile(store);
  for (const arg of opts.containers) {
    try {
      const c = findContainer(containers, arg);
      if (!c) throw new CtrError(`no such container: ${arg}`);
      await removeContainer(store, c, { force: opts.force, volumes: opts.volumes, runtime: opts.runtime });
      result.removed.push(arg);
    } catch (err) {
      result.errors.push(errorMessage(err));
    }
  }
  return result;
}

export async function removeContainer(store: Store, c: ContainerRecord, opts: { force?: boolean; volumes?: boolean; runtime?: string }): Promise<void> {
  if ((c.state.status === 'running' || c.state.status === 'paused') && isAlive(c)) {
    if (!opts.force) throw new CtrError(`cannot remove container ${c.name}: it is running; stop it first, or use --force`);
    await killForRemoval(store, c, opts.runtime);
  }
  const gone = await store.updateContainers((list) => {
    const i = list.findIndex((x) => x.id === c.id);
    if (i < 0) return false;
    list.splice(i, 1);
    return true;
  });
  if (!gone) throw new CtrError(`no such container: ${c.name}`);
  rmSync(store.containerRunDir(c.id), { recursive: true, force: true });
  // overlay leaves work/work with mode 000; it is ours, and readable it needs no user namespace to go.
  try {
    chmodSync(join(store.containers.path(c.id), 'work', 'work'), 0o700);
  } catch {
    // never mounted, or already gone
  }
  await store.containers.removeFiles(c.id, store.removeTree);
  if (opts.volumes) await removeContainerVolumes(store, c);
}

async function killForRemoval(store: Store, c: ContainerRecord, runtime?: string): Promise<void> {
  const mapping = detectIdMapping();
  const client = new RuntimeClient(findRuntime(runtime), store.runtimeStateDir(), (argv) => spawnInUserNamespace(mapping, argv, { stdio: ['ignore', 'pipe', 'pipe'] }));
  await client.kill(c.id, 'KILL', true).catch(() => {});
  for (let i = 0; i < 100 && isAlive(c); i++) await sleep(20);
  await client.delete(c.id, true).catch(() => {});
}

export interface PruneContainersResult {
  deleted: string[];
  errors: string[];
}

/** container prune: removes every stopped container (exited or created). */
export async function pruneContainers(opts: EngineOptions): Promise<PruneContainersResult> {
  const { store } = openEngine(opts);
  const containers = await reconcile(store);
  const result: PruneContainersResult = { deleted: [], errors: [] };
  for (const c of containers) {
    if (c.state.status === 'running' || c.state.status === 'paused') continue;
    try {
      await removeContainer(store, c, { volumes: false });
      result.deleted.push(c.id);
    } catch (err) {
      result.errors.push(errorMessage(err));
    }
  }
  return result;
}
