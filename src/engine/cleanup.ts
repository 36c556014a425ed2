import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerRecord, ContainerState } from '../store/containers.js';
import { monitorExit, shouldRestart } from './containers.js';
import { openEngine, type Engine, type EngineOptions } from './context.js';
import type { StoredConfig } from './create.js';
import { deleteRuntimeState, startDetached } from './detached.js';
import { removeContainer } from './remove.js';
import { runtimeFor } from './start.js';

export interface ContainerExitedOptions extends EngineOptions {
  id: string;
  /** The run of the container this exit belongs to (see ContainerState.runId). */
  runId: string;
  runtime?: string;
}

// A run this long counts as a success: the next restart comes without delay again, as in docker.
const STABLE_RUN_MS = 10_000;
const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 60_000;

/**
 * `ctr __cleanup`, conmon's exit command: records the exit of a detached container, then removes
 * it (--rm) or starts it again (restart policy). It runs inside the container's user namespace,
 * as its root, and only acts while the run it was started for is still the container's current
 * one: a later start, stop or rm has already decided otherwise.
 */
export async function containerExited(opts: ContainerExitedOptions): Promise<void> {
  const engine = openEngine(opts);
  const { store } = engine;
  const exit = monitorExit(store, opts.id) ?? { code: 255, at: new Date().toISOString(), oomKilled: false };
  const decision = await store.updateContainers((list): { action: 'none' | 'remove' | 'restart'; delay: number; rec?: ContainerRecord } => {
    const c = list.find((x) => x.id === opts.id);
    if (!c || c.state.runId !== opts.runId) return { action: 'none', delay: 0 };
    const cfg = c.config as unknown as StoredConfig;
    const ran = Date.parse(exit.at) - Date.parse(c.state.startedAt ?? exit.at);
    const restart = shouldRestart(cfg.restartPolicy, exit.code, c.state);
    const count = c.state.restartCount ?? 0;
    c.state = {
      ...c.state,
      status: 'exited',
      pid: undefined,
      pidStartTime: undefined,
      finishedAt: exit.at,
      exitCode: exit.code,
      oomKilled: exit.oomKilled || undefined,
      restarting: restart || undefined,
    };
    if (restart) return { action: 'restart', delay: ran >= STABLE_RUN_MS ? FIRST_DELAY_MS : Math.min(FIRST_DELAY_MS * 2 ** Math.min(count, 16), MAX_DELAY_MS), rec: c };
    return { action: cfg.autoRemove ? 'remove' : 'none', delay: 0, rec: c };
  });
  if (decision.action === 'none' && decision.rec) {
    await forgetRuntimeState(engine, opts);
  } else if (decision.action === 'remove') {
    await removeContainer(store, decision.rec!, { volumes: true, runtime: opts.runtime });
  } else if (decision.action === 'restart') {
    await sleep(decision.delay);
    const current = store.containers.list().find((c) => c.id === opts.id);
    if (!current || !stillRestarting(current.state, opts.runId)) return;
    try {
      await startDetached(engine, current, {
        runtime: opts.runtime,
        reuseBundle: true,
        mayStart: (c) => stillRestarting(c.state, opts.runId),
        restartCount: (current.state.restartCount ?? 0) + 1,
      });
    } finally {
      // Started, or failed with the reason recorded: either way no longer about to restart.
      await store.updateContainers((list) => {
        const c = list.find((x) => x.id === opts.id);
        if (c && c.state.runId === opts.runId && c.state.restarting) c.state = { ...c.state, restarting: undefined };
      });
    }
  }
}

/** As podman's cleanup does: the runtime's state of a run that ended goes now, not in a later `rm` or `start`. */
async function forgetRuntimeState(engine: Engine, opts: ContainerExitedOptions): Promise<void> {
  const { store } = engine;
  await store.withContainerLock(opts.id, async () => {
    const c = store.containers.list().find((x) => x.id === opts.id);
    if (!c || c.state.runId !== opts.runId || c.state.status !== 'exited' || c.state.restarting) return;
    await deleteRuntimeState(engine, c, runtimeFor(c.config as unknown as StoredConfig, opts.runtime));
    await store.updateContainers((list) => {
      const x = list.find((y) => y.id === opts.id);
      if (x && x.state.runId === opts.runId) x.state = { ...x.state, runtimeDeleted: true };
    });
  });
}

function stillRestarting(s: ContainerState, runId: string): boolean {
  return s.runId === runId && s.restarting === true && !s.stoppedByUser;
}
