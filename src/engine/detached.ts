import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomHex } from '../random.js';
import { CtrError } from '../errors.js';
import { conmonArgv, findConmon, MonitorStartError, startMonitor } from '../runtime/conmon.js';
import { spawnInContainerUserNamespace } from '../runtime/nsenter.js';
import { RuntimeClient, startFailureCode, type OciRuntime } from '../runtime/oci.js';
import { selfCommand } from '../runtime/self.js';
import { serializeSpec } from '../runtime/spec.js';
import { spawnInUserNamespace, withUserNamespace, type HeldUserNamespace } from '../runtime/userns.js';
import { writeFileAtomic } from '../store/atomic.js';
import type { ContainerRecord, ContainerState } from '../store/containers.js';
import { processStartTime } from './containers.js';
import type { Engine } from './context.js';
import type { StoredConfig } from './create.js';
import { containerSpec, runtimeFor } from './start.js';

export interface DetachedStartOptions {
  /** The global --runtime, when the container's own setting is unset. */
  runtime?: string;
  /**
   * The exit command restarting a container: its namespace is already the container's, where the
   * spec cannot be built again the same way, so the bundle of the first start is used as it is.
   */
  reuseBundle?: boolean;
  /** Checked under the lock before the container is recorded as running (it may have been stopped or removed meanwhile). */
  mayStart?: (current: ContainerRecord) => boolean;
  /** What the restart policy counted so far (0 when the user starts it). */
  restartCount?: number;
  /** Rootless: the namespace conmon starts in, made meanwhile (see holdUserNamespace); else one is made here. */
  userns?: Promise<HeldUserNamespace>;
}

/**
 * Runs a created or exited container under its own monitor, conmon, and returns once its process
 * runs: write the bundle, let conmon `create` it (rootless: inside a new user namespace that conmon
 * keeps), record it as running, then `start` it inside that namespace. A command that cannot be run
 * leaves the container as it was (created or exited, with the error) and fails with docker's
 * 125/126/127.
 */
export async function startDetached(engine: Engine, rec: ContainerRecord, opts: DetachedStartOptions = {}): Promise<{ notices: string[] }> {
  // Made while the spec is built, when the caller did not start it earlier.
  return withUserNamespace(engine.mapping, opts.userns, (userns) => startDetachedIn(engine, rec, opts, userns));
}

async function startDetachedIn(engine: Engine, rec: ContainerRecord, opts: DetachedStartOptions, userns: Promise<HeldUserNamespace> | undefined): Promise<{ notices: string[] }> {
  const { store, mapping } = engine;
  const cfg = rec.config as unknown as StoredConfig;
  const runtime = runtimeFor(cfg, opts.runtime);
  const conmon = findConmon();
  const runDir = store.containerRunDir(rec.id);
  const paths = store.monitorPaths(rec.id);
  const notices: string[] = [];
  if (!opts.reuseBundle) {
    const prepared = containerSpec(engine, rec);
    notices.push(...prepared.notices);
    mkdirSync(runDir, { recursive: true, mode: 0o700 });
    // Replaced, never written through: a foreground start that was killed may have left a FIFO there.
    writeFileAtomic(join(runDir, 'config.json'), serializeSpec(prepared.spec), 0o644, false);
  }
  mkdirSync(store.runtimeStateDir(), { recursive: true, mode: 0o700 });
  const previousRunId = rec.state.runId;
  const runId = randomHex(8);
  const argv = conmonArgv({
    conmon,
    id: rec.id,
    name: rec.name,
    runtime,
    bundle: runDir,
    pidFile: paths.pidFile,
    conmonPidFile: paths.conmonPid,
    logPath: join(store.containers.path(rec.id), 'ctr.log'),
    socketDir: store.socketDir(),
    runtimeStateDir: store.runtimeStateDir(),
    runtimeLog: join(runDir, 'runtime.log'),
    terminal: cfg.tty,
    stdin: cfg.interactive,
    exitCommand: [
      ...selfCommand(),
      // Inside the namespace ctr is uid 0, where the default paths would be root's.
      '--root', store.location.root,
      '--runroot', store.location.runroot,
      '--runtime', runtime.path,
      '__cleanup', '--run-id', runId, rec.id,
    ],
  });
  const mayStart = (c: ContainerRecord) => c.state.runId === previousRunId && (opts.mayStart?.(c) ?? true);

  let started: { monitorPid: number; pid: number };
  let running: ContainerState;
  let recorded: boolean;
  try {
    // Under the container's lock: the exit command of the run before may be deleting its runtime state.
    ({ started, running, recorded } = await store.withContainerLock(rec.id, async () => {
      await deleteRuntimeState(engine, rec, runtime);
      for (const f of [paths.exitFile, paths.oomFile, paths.pidFile, paths.conmonPid]) rmSync(f, { force: true });
      const started = await startMonitor(mapping, argv, paths.conmonPid, process.env, await userns);
      const running: ContainerState = {
        status: 'running',
        pid: started.pid,
        pidStartTime: processStartTime(started.pid),
        monitorPid: started.monitorPid,
        monitorStartTime: processStartTime(started.monitorPid),
        startedAt: new Date().toISOString(),
        runId,
        restartCount: opts.restartCount ?? 0,
      };
      // Recorded before `start`, so that a command that exits at once has its exit command find
      // this run; and before the lock goes, so that the exit command of the run before (which
      // checks its run id under the lock) cannot take this run's runtime state for its own.
      const recorded = await store.updateContainers((list) => {
        const c = list.find((x) => x.id === rec.id);
        if (!c || !mayStart(c)) return false;
        c.state = running;
        return true;
      });
      return { started, running, recorded };
    }));
  } catch (err) {
    if (!(err instanceof MonitorStartError)) throw err;
    const code = startFailureCode(err.message);
    await recordFailure(engine, rec, mayStart, code, err.message, conmonPidOf(paths.conmonPid));
    throw new CtrError(err.message, code);
  }

  const client = runtimeIn(engine, runtime, started.monitorPid);
  if (!recorded) {
    killOwn(running);
    throw new CtrError(`container ${rec.name} was stopped, started or removed by another command while it was starting`);
  }
  try {
    await client.start(rec.id);
  } catch (err) {
    const message = (err as Error).message.replace(/^\S+ start \S*: /, '');
    const code = startFailureCode(message);
    // Recorded first, so that the exit command of this run finds nothing left to do.
    await recordFailure(engine, rec, (c) => c.state.runId === runId, code, message, started.monitorPid);
    killOwn(running);
    throw new CtrError(message, code);
  }
  return { notices };
}

/**
 * Ends a container this command created but may not keep: only its own process (the runtime's
 * state of the id may already be another start's); conmon then exits, and the next start forgets
 * the stopped container.
 */
function killOwn(state: ContainerState): void {
  if (!state.pid || processStartTime(state.pid) !== state.pidStartTime) return;
  try {
    process.kill(state.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function conmonPidOf(file: string): number | undefined {
  try {
    return Number(readFileSync(file, 'utf8')) || undefined;
  } catch {
    return undefined;
  }
}

/** A start that failed leaves the container created (never ran) or exited, with the runtime's error. */
async function recordFailure(engine: Engine, rec: ContainerRecord, mayWrite: (c: ContainerRecord) => boolean, code: number, message: string, monitorPid?: number): Promise<void> {
  await engine.store.updateContainers((list) => {
    const c = list.find((x) => x.id === rec.id);
    if (!c || !mayWrite(c)) return;
    c.state = {
      status: c.state.startedAt ? 'exited' : 'created',
      startedAt: c.state.startedAt,
      finishedAt: c.state.startedAt ? new Date().toISOString() : undefined,
      exitCode: code,
      error: message,
      restartCount: c.state.restartCount,
      // The runtime may still know the container: the next start or rm makes it forget it.
      monitorPid: monitorPid ?? c.state.monitorPid,
    };
  });
}

/**
 * The runtime, run where it can act on the container: rootless, inside the container's user
 * namespace (joined through a process that lives in it), or a fresh one with the same mapping
 * when nothing of the container runs any more.
 */
export function runtimeIn(engine: Engine, runtime: OciRuntime, joinPid?: number): RuntimeClient {
  const stateDir = engine.store.runtimeStateDir();
  const { mapping } = engine;
  if (mapping.mode === 'root') return new RuntimeClient(runtime, stateDir);
  if (joinPid) return new RuntimeClient(runtime, stateDir, (argv) => spawnInContainerUserNamespace(mapping, joinPid, argv));
  return new RuntimeClient(runtime, stateDir, (argv) => spawnInUserNamespace(mapping, argv, { stdio: ['ignore', 'pipe', 'pipe'] }));
}

/**
 * A container that ran under a monitor stays known to the runtime after it exits; forget it
 * before it runs again or goes. Only its state files (the user's own) are left, so no user
 * namespace is needed.
 */
export async function deleteRuntimeState(engine: Engine, rec: ContainerRecord, runtime: OciRuntime): Promise<void> {
  if (rec.state.monitorPid === undefined || rec.state.runtimeDeleted) return;
  await new RuntimeClient(runtime, engine.store.runtimeStateDir()).delete(rec.id, true).catch(() => {});
}
