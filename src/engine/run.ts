import type { ContainerRecord } from '../store/containers.js';
import { openEngine, type Engine } from './context.js';
import { createContainer, type StoredConfig } from './create.js';
import { runForeground, type ForegroundIO } from './foreground.js';
import type { PullProgress } from './pull.js';
import { removeContainer } from './remove.js';
import type { CreateOptions } from './run-options.js';
import { userTerminalSize } from '../runtime/tty.js';
import { containerSpec, runtimeFor } from './start.js';

export interface RunIO extends ForegroundIO {
  progress?: PullProgress;
  notice(text: string): void;
}

export interface RunResult {
  id: string;
  exitCode: number;
  /** What the runtime said when the command could not be started (exit 125/126/127). */
  startError?: string;
}

/** `ctr run` in the foreground: create, start attached, and with --rm remove on every exit path. */
export async function runContainer(opts: CreateOptions, io: RunIO): Promise<RunResult> {
  const engine = openEngine(opts);
  const rec = await createContainer(engine, opts, io.progress);
  try {
    const result = await startAttached(engine, rec, io, opts.runtime);
    return { id: rec.id, ...result };
  } finally {
    if (opts.rm) await removeContainer(engine.store, rec, { force: true, volumes: true, runtime: opts.runtime }).catch((err: unknown) => io.notice(`Warning: cannot remove container ${rec.name}: ${(err as Error).message}`));
  }
}

/** Starts a created or exited container with ctr as its monitor, wired to io. */
export async function startAttached(engine: Engine, rec: ContainerRecord, io: RunIO, globalRuntime?: string): Promise<{ exitCode: number; startError?: string }> {
  const cfg = rec.config as unknown as StoredConfig;
  const size = cfg.tty ? userTerminalSize(io.stdout, io.stdin ?? null) : undefined;
  const { spec, notices } = containerSpec(engine, rec, { consoleSize: size ? { height: size.rows, width: size.cols } : undefined });
  for (const n of notices) io.notice(n);
  const runtime = runtimeFor(cfg, globalRuntime);
  return runForeground(engine.store, runtime, rec, spec, io, { mapping: engine.mapping, tty: cfg.tty, interactive: cfg.interactive });
}

export interface StartOptions {
  root?: string;
  runroot?: string;
  runtime?: string;
  container: string;
}

/** `ctr start -a`: runs an existing container again in the foreground. */
export async function startContainer(opts: StartOptions, io: RunIO): Promise<RunResult> {
  const { CtrError } = await import('../errors.js');
  const { reconcile, findContainer, isAlive } = await import('./containers.js');
  const engine = openEngine(opts);
  const rec = findContainer(await reconcile(engine.store), opts.container);
  if (!rec) throw new CtrError(`no such container: ${opts.container}`);
  if ((rec.state.status === 'running' || rec.state.status === 'paused') && isAlive(rec)) throw new CtrError(`container ${rec.name} is already running`);
  const cfg = rec.config as unknown as StoredConfig;
  try {
    const result = await startAttached(engine, rec, io, opts.runtime);
    return { id: rec.id, ...result };
  } finally {
    if (cfg.autoRemove) await removeContainer(engine.store, rec, { force: true, volumes: true, runtime: opts.runtime }).catch(() => {});
  }
}
