import { chmodSync, rmSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CtrError, errorMessage } from '../errors.js';
import { detectIdMapping } from '../runtime/idmap.js';
import type { ContainerRecord } from '../store/containers.js';
import type { Store } from '../store/store.js';
import { findContainer, isRunning, reconcile } from './containers.js';
import { openEngine, type Engine, type EngineOptions } from './context.js';
import type { StoredConfig } from './create.js';
import { deleteRuntimeState } from './detached.js';
import { resumeToDeliver } from './pause.js';
import { runtimeFor } from './start.js';
import { signalContainer } from './stop.js';
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
  const engine: Engine = { store, mapping: detectIdMapping() };
  if (isRunning(store, c) || c.state.restarting) {
    if (!opts.force) throw new CtrError(`cannot remove container ${c.name}: it is ${c.state.restarting ? 'restarting' : 'running'}; stop it first, or use --force`);
    await killForRemoval(engine, c, opts.runtime);
  }
  const forget = deleteRuntimeState(engine, c, runtimeFor(c.config as unknown as StoredConfig, opts.runtime));
  const gone = await store.updateContainers((list) => {
    const i = list.findIndex((x) => x.id === c.id);
    if (i < 0) return false;
    list.splice(i, 1);
    return true;
  });
  if (!gone) throw new CtrError(`no such container: ${c.name}`);
  // A foreground ctr or a monitor's exit command may still be writing its last files in there.
  rmSync(store.containerRunDir(c.id), { recursive: true, force: true, maxRetries: 10, retryDelay: 20 });
  // overlay leaves work/work with mode 000; it is ours, and readable it needs no user namespace to go.
  try {
    chmodSync(join(store.containers.path(c.id), 'work', 'work'), 0o700);
  } catch {
    // never mounted, or already gone
  }
  await store.containers.removeFiles(c.id, (path) => removeNow(store, path));
  store.dropContainerLock(c.id);
  if (opts.volumes) await removeContainerVolumes(store, c);
  await forget;
}

/**
 * A container's files, removed in this thread: nothing else runs meanwhile, and the thread pool's
 * round trips cost `run --rm` ~2 ms. What needs the user namespace (files of the container's other
 * ids) is left to the store's remover.
 */
function removeNow(store: Store, path: string): Promise<void> {
  try {
    rmSync(path, { recursive: true, force: true });
    return Promise.resolve();
  } catch {
    return store.removeTree(path);
  }
}

/** rm -f: SIGKILL (a pending restart is cancelled first), then wait until it is gone. */
async function killForRemoval(engine: Engine, c: ContainerRecord, runtime?: string): Promise<void> {
  await engine.store.updateContainers((list) => {
    const x = list.find((y) => y.id === c.id);
    if (x) x.state = { ...x.state, stoppedByUser: true, restarting: undefined };
  });
  if (!isRunning(engine.store, c)) return;
  await signalContainer(engine, c, constants.signals.SIGKILL, runtime).catch(() => {});
  await resumeToDeliver(engine, c, runtime);
  for (let i = 0; i < 250 && isRunning(engine.store, c); i++) await sleep(Math.min(2 ** i, 20));
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
    if (isRunning(store, c) || c.state.restarting) continue;
    try {
      await removeContainer(store, c, { volumes: false });
      result.deleted.push(c.id);
    } catch (err) {
      result.errors.push(errorMessage(err));
    }
  }
  return result;
}
