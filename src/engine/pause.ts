import { CtrError } from '../errors.js';
import { cgroupMode } from '../runtime/oci.js';
import type { ContainerRecord } from '../store/containers.js';
import { openEngine, type Engine, type EngineOptions } from './context.js';
import { findRunning } from './running.js';

export interface PauseOptions extends EngineOptions {
  containers: string[];
  /** The global --runtime, for containers created without one. */
  runtime?: string;
}

/** The containers done (as named), and one sentence per container that failed. */
export interface PauseResult {
  done: string[];
  errors: string[];
}

/**
 * `ctr pause`: freezes every process of each running container with the runtime's cgroup
 * freezer (`runc pause`) and records it as paused. A container that cannot be paused (missing,
 * not running, already paused) is an error of its own, as docker reports it; the others go on.
 */
export async function pauseContainers(opts: PauseOptions): Promise<PauseResult> {
  const engine = openEngine(opts);
  return eachContainer(opts.containers, (name) => pauseOne(engine, name, opts.runtime));
}

/** `ctr unpause`: thaws each paused container (`runc resume`) and records it as running again. */
export async function unpauseContainers(opts: PauseOptions): Promise<PauseResult> {
  const engine = openEngine(opts);
  return eachContainer(opts.containers, (name) => unpauseOne(engine, name, opts.runtime));
}

async function eachContainer(names: string[], act: (name: string) => Promise<void>): Promise<PauseResult> {
  const result: PauseResult = { done: [], errors: [] };
  for (const name of names) {
    try {
      await act(name);
      result.done.push(name);
    } catch (err) {
      if (!(err instanceof CtrError)) throw err;
      result.errors.push(err.message);
    }
  }
  return result;
}

async function pauseOne(engine: Engine, name: string, globalRuntime: string | undefined): Promise<void> {
  const target = await findRunning(engine, name, { allowPaused: true, globalRuntime });
  const { rec } = target;
  if (rec.state.status === 'paused') throw new CtrError(`container ${rec.name} is already paused`);
  // Without a cgroup the runtime has no freezer to use; say why instead of passing on its error.
  if (engine.mapping.mode !== 'root' && cgroupMode() !== 'v2') {
    throw new CtrError(
      `cannot pause container ${rec.name}: pausing needs the cgroup freezer, and rootless containers on this host have no cgroup of their own (its cgroups are v1 or hybrid, so none can be delegated to this user); run the container as root to pause it`,
    );
  }
  await target.runtimeCall(['pause', rec.id]).catch((err: unknown) => {
    throw new CtrError(`cannot pause container ${rec.name}: ${(err as Error).message}`);
  });
  await setStatus(engine.store, rec.id, 'paused');
}

async function unpauseOne(engine: Engine, name: string, globalRuntime: string | undefined): Promise<void> {
  const target = await findRunning(engine, name, { allowPaused: true, globalRuntime });
  const { rec } = target;
  if (rec.state.status !== 'paused') throw new CtrError(`container ${rec.name} is not paused`);
  await target.runtimeCall(['resume', rec.id]).catch((err: unknown) => {
    throw new CtrError(`cannot unpause container ${rec.name}: ${(err as Error).message}`);
  });
  await setStatus(engine.store, rec.id, 'running');
}

/**
 * Thaws a paused container that was just sent a signal that ends it (stop, kill, rm -f), so the
 * signal is delivered, as docker does; records it as running again. A no-op for one not paused.
 */
export async function resumeToDeliver(engine: Engine, c: ContainerRecord, globalRuntime?: string): Promise<void> {
  if (c.state.status !== 'paused') return;
  let target: Awaited<ReturnType<typeof findRunning>>;
  try {
    target = await findRunning(engine, c.id, { allowPaused: true, globalRuntime });
  } catch {
    return; // it has ended meanwhile
  }
  if (target.rec.state.status !== 'paused') return;
  await target.runtimeCall(['resume', c.id]).catch((err: unknown) => {
    throw new CtrError(`cannot unpause container ${c.name} so that it gets the signal: ${(err as Error).message}; try ctr unpause ${c.name}`);
  });
  await setStatus(engine.store, c.id, 'running');
}

async function setStatus(store: ReturnType<typeof openEngine>['store'], id: string, status: 'paused' | 'running'): Promise<void> {
  await store.updateContainers((containers) => {
    const c = containers.find((x) => x.id === id);
    // It may have exited meanwhile: its exit, recorded by someone else, wins.
    if (c && (c.state.status === 'running' || c.state.status === 'paused')) c.state = { ...c.state, status };
  });
}
