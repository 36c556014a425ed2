import { watch, type FSWatcher } from 'node:fs';
import { constants } from 'node:os';
import { CtrError, errorMessage } from '../errors.js';
import { parseSignal } from '../runtime/spec.js';
import type { ContainerRecord } from '../store/containers.js';
import type { Store } from '../store/store.js';
import { findContainer, isAlive, isRunning, monitorAlive, monitorExit, processStartTime, reconcile } from './containers.js';
import { openEngine, type Engine, type EngineOptions } from './context.js';
import type { StoredConfig } from './create.js';
import { runtimeIn, startDetached } from './detached.js';
import { resumeToDeliver } from './pause.js';
import { runtimeFor } from './start.js';

export interface LifecycleOptions extends EngineOptions {
  containers: string[];
  runtime?: string;
}

export interface StopOptions extends LifecycleOptions {
  /** Seconds between the stop signal and SIGKILL (default: the container's --stop-timeout, else 10). */
  timeout?: number;
  /** The signal to stop with instead of the container's stop signal (docker's stop --signal). */
  signal?: string;
}

export interface KillOptions extends LifecycleOptions {
  /** Name or number (default SIGKILL). */
  signal?: string;
}

/** Which containers a command acted on (as the user named them) and what went wrong with the others. */
export interface LifecycleResult {
  done: string[];
  errors: string[];
}

const DEFAULT_STOP_TIMEOUT = 10;
// After SIGKILL the process is gone within milliseconds; this only guards against a hung runtime.
const KILL_WAIT_MS = 10_000;
const FOREGROUND_RECORD_MS = 3000;

/** `ctr stop`: the container's stop signal, then SIGKILL after the timeout; its restart policy leaves it stopped. */
export async function stopContainers(opts: StopOptions): Promise<LifecycleResult> {
  if (opts.signal !== undefined) parseSignal(opts.signal);
  const engine = openEngine(opts);
  return eachContainer(engine, opts.containers, async (c) => stopContainer(engine, c, opts));
}

/** `ctr kill`: one signal (default SIGKILL) to each running container's main process. */
export async function killContainers(opts: KillOptions): Promise<LifecycleResult> {
  const engine = openEngine(opts);
  const signal = parseSignal(opts.signal ?? 'SIGKILL');
  return eachContainer(engine, opts.containers, async (c) => {
    if (!isRunning(engine.store, c)) throw new CtrError(`container ${c.name} is not running`);
    const cfg = c.config as unknown as StoredConfig;
    // As docker: SIGKILL or the stop signal is the user stopping it, which restart policies respect.
    const stopping = signal === constants.signals.SIGKILL || signal === parseSignal(cfg.stopSignal ?? 'SIGTERM');
    if (stopping) await markStopped(engine.store, c);
    await signalContainer(engine, c, signal, opts.runtime);
    // Any other signal waits, as in docker, until the user unpauses the container.
    if (stopping) await resumeToDeliver(engine, c, opts.runtime);
  });
}

/** `ctr restart`: stop (as `ctr stop`), then start again in the background. */
export async function restartContainers(opts: StopOptions): Promise<LifecycleResult> {
  if (opts.signal !== undefined) parseSignal(opts.signal);
  const engine = openEngine(opts);
  return eachContainer(engine, opts.containers, async (c) => {
    await stopContainer(engine, c, opts);
    const fresh = engine.store.containers.list().find((x) => x.id === c.id);
    if (!fresh) throw new CtrError(`container ${c.name} was removed while it restarted`);
    await startDetached(engine, fresh, { runtime: opts.runtime });
  });
}

export interface WaitResult {
  /** One exit code per container found, in the order given. */
  codes: { container: string; code: number }[];
  errors: string[];
}

/** `ctr wait`: blocks until each container has stopped, and gives its exit code. */
export async function waitContainers(opts: LifecycleOptions): Promise<WaitResult> {
  const { store } = openEngine(opts);
  const list = await reconcile(store);
  const result: WaitResult = { codes: [], errors: [] };
  for (const arg of opts.containers) {
    try {
      const c = findContainer(list, arg);
      if (!c) throw new CtrError(`no such container: ${arg}`);
      result.codes.push({ container: arg, code: await waitForExit(store, c) });
    } catch (err) {
      result.errors.push(errorMessage(err));
    }
  }
  return result;
}

async function eachContainer(engine: Engine, args: string[], act: (c: ContainerRecord) => Promise<void>): Promise<LifecycleResult> {
  const list = await reconcile(engine.store);
  const result: LifecycleResult = { done: [], errors: [] };
  for (const arg of args) {
    try {
      const c = findContainer(list, arg);
      if (!c) throw new CtrError(`no such container: ${arg}`);
      await act(c);
      result.done.push(arg);
    } catch (err) {
      result.errors.push(errorMessage(err));
    }
  }
  return result;
}

/**
 * Stops one container; a container that does not run is left as it is (a pending restart is
 * cancelled). A paused one is thawed once signalled, so that it gets the signal.
 */
export async function stopContainer(engine: Engine, c: ContainerRecord, opts: { timeout?: number; signal?: string; runtime?: string } = {}): Promise<void> {
  const current = await markStopped(engine.store, c);
  if (!current || !isRunning(engine.store, current)) return;
  const cfg = current.config as unknown as StoredConfig;
  const timeout = opts.timeout ?? cfg.stopTimeout ?? DEFAULT_STOP_TIMEOUT;
  await signalContainer(engine, current, parseSignal(opts.signal ?? cfg.stopSignal ?? 'SIGTERM'), opts.runtime);
  await resumeToDeliver(engine, current, opts.runtime);
  if (await waitUntilStopped(engine.store, current, timeout * 1000)) return;
  await signalContainer(engine, current, constants.signals.SIGKILL, opts.runtime);
  if (!(await waitUntilStopped(engine.store, current, KILL_WAIT_MS))) throw new CtrError(`container ${c.name} did not stop within ${KILL_WAIT_MS / 1000} seconds of SIGKILL; see ctr inspect ${c.name}`);
}

/** Records that the user stopped it (restart policies then leave it alone); returns the current record. */
async function markStopped(store: Store, c: ContainerRecord): Promise<ContainerRecord | undefined> {
  return store.updateContainers((list) => {
    const x = list.find((y) => y.id === c.id);
    if (x) x.state = { ...x.state, stoppedByUser: true, restarting: undefined };
    return x;
  });
}

/**
 * A signal to the container's main process. Detached: straight to it (the user owns the
 * container's user namespace, so may signal any process in it). In the foreground the recorded
 * process is the runtime's, which must not be the one killed: the runtime signals the container.
 */
export async function signalContainer(engine: Engine, c: ContainerRecord, signal: number, globalRuntime?: string): Promise<void> {
  const { pid, pidStartTime } = c.state;
  if (c.state.monitorPid !== undefined && pid && processStartTime(pid) === pidStartTime) {
    try {
      process.kill(pid, signal);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return;
    }
  }
  const runtime = runtimeFor(c.config as unknown as StoredConfig, globalRuntime);
  const join = monitorAlive(c) ? c.state.monitorPid : isAlive(c) ? pid : undefined;
  await runtimeIn(engine, runtime, join)
    .kill(c.id, signal)
    .catch((err: unknown) => {
      if (isRunning(engine.store, c)) throw err;
    });
}

/** Polls (and wakes on changes in the run directory) until the container no longer runs, or the time is up. */
async function waitUntilStopped(store: Store, c: ContainerRecord, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  const changes = watchChanges(store.containerRunDir(c.id));
  try {
    for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
      if (!isRunning(store, c)) return true;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await changes.next(Math.min(delay, left));
    }
  } finally {
    changes.close();
  }
}

/** The exit code of a container once it has stopped (at once for one that does not run). */
async function waitForExit(store: Store, c: ContainerRecord): Promise<number> {
  let goneSince: number | undefined;
  const changes = watchChanges(store.containerRunDir(c.id));
  try {
    for (let delay = 5; ; delay = Math.min(delay * 2, 250)) {
      const current = store.containers.list().find((x) => x.id === c.id);
      if (!current) throw new CtrError(`container ${c.name} was removed before its exit code could be read`);
      const { status } = current.state;
      if (status !== 'running' && status !== 'paused') return current.state.exitCode ?? 0;
      if (current.state.monitorPid !== undefined) {
        const exit = monitorExit(store, c.id);
        if (exit) return exit.code;
      }
      if (!isRunning(store, current)) {
        // A foreground ctr records its container's exit code itself, right after the process ended.
        const recording = current.state.monitorPid === undefined && Date.now() - (goneSince ??= Date.now()) < FOREGROUND_RECORD_MS;
        if (!recording) {
          const fixed = (await reconcile(store)).find((x) => x.id === c.id);
          if (fixed && fixed.state.status !== 'running' && fixed.state.status !== 'paused') return fixed.state.exitCode ?? 0;
        }
      }
      await changes.next(delay);
    }
  } finally {
    changes.close();
  }
}

/**
 * Wakes on changes in `dir` (the monitor writing its exit file) from the moment it is called, so
 * that a change between two checks is not missed; next(ms) resolves at the first change since the
 * last call, or after ms.
 */
function watchChanges(dir: string): { next(ms: number): Promise<void>; close(): void } {
  let changed = false;
  let wake: (() => void) | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dir, () => {
      changed = true;
      wake?.();
    });
    watcher.on('error', () => {});
  } catch {
    // no run directory (a foreground container's may be gone already): the timer decides
  }
  return {
    next(ms) {
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          wake = undefined;
          changed = false;
          resolve();
        };
        const timer = setTimeout(done, changed ? 0 : ms);
        wake = done;
      });
    },
    close() {
      watcher?.close();
    },
  };
}
