import { CtrError, errorMessage } from '../errors.js';
import type { ContainerRecord } from '../store/containers.js';
import { findContainer, isRunning, reconcile } from './containers.js';
import { openEngine, type Engine } from './context.js';
import { createContainer, type StoredConfig } from './create.js';
import { beginForeground, runForeground, type ForegroundIO } from './foreground.js';
import type { PullProgress } from './pull.js';
import { removeContainer } from './remove.js';
import type { CreateOptions } from './run-options.js';
import { userTerminalSize } from '../runtime/tty.js';
import { releaseUserNamespace, withUserNamespace, type HeldUserNamespace } from '../runtime/userns.js';
import { findRuntime } from '../runtime/oci.js';
import { copyRuntimeOf, releasePrepared, takePrepared, usableNamespace, type EarlyStart } from './prepare.js';
import type { RuntimeSpec } from '../runtime/spec.js';
import { containerSpec, runtimeFor } from './start.js';
import { deleteRuntimeState, startDetached } from './detached.js';

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
  const given = takePrepared();
  // The runtime's copy of itself, and rootless its user namespace, are made while the container is
  // created, when prepareRun did not begin them.
  const runtimeCopy = given.runtimeCopy ?? copyRuntimeOf(() => findRuntime(opts.runtime));
  let userns: Promise<HeldUserNamespace> | undefined;
  try {
    const engine = openEngine(opts);
    userns = usableNamespace(given, engine.mapping);
    return await withUserNamespace(engine.mapping, userns, async (userns) => {
      const rec = await createContainer(engine, opts, io.progress);
      try {
        const result = await startAttached(engine, rec, io, opts.runtime, { userns, runtimeCopy });
        return { id: rec.id, ...result };
      } finally {
        if (opts.rm) await removeContainer(engine.store, rec, { force: true, volumes: true, runtime: opts.runtime }).catch((err: unknown) => io.notice(`Warning: cannot remove container ${rec.name}: ${(err as Error).message}`));
      }
    });
  } finally {
    releasePrepared({ userns, runtimeCopy });
  }
}

/** Starts a created or exited container with ctr as its monitor, wired to io. */
export async function startAttached(
  engine: Engine,
  rec: ContainerRecord,
  io: RunIO,
  globalRuntime?: string,
  early: EarlyStart = {},
): Promise<{ exitCode: number; startError?: string }> {
  const cfg = rec.config as unknown as StoredConfig;
  // `start -a` makes these while the spec is built; `run` began earlier.
  const runtimeCopy = early.runtimeCopy ?? copyRuntimeOf(() => runtimeFor(cfg, globalRuntime));
  try {
    return await withUserNamespace(engine.mapping, early.userns, async (userns) => {
      const runtime = runtimeFor(cfg, globalRuntime);
      await deleteRuntimeState(engine, rec, runtime);
      // Without a terminal the runtime starts now, while the spec is made.
      const begun = await beginForeground(engine.store, runtime, rec, io, { mapping: engine.mapping, userns, runtimeCopy, tty: cfg.tty, interactive: cfg.interactive });
      let spec: RuntimeSpec;
      try {
        const size = cfg.tty ? userTerminalSize(io.stdout, io.stdin ?? null) : undefined;
        const made = containerSpec(engine, rec, { consoleSize: size ? { height: size.rows, width: size.cols } : undefined });
        for (const n of made.notices) io.notice(n);
        spec = made.spec;
      } catch (err) {
        await begun.abort();
        throw err;
      }
      return runForeground(begun, spec);
    });
  } finally {
    if (!early.runtimeCopy) void runtimeCopy.then((copy) => copy?.close());
  }
}

export interface StartOptions {
  root?: string;
  runroot?: string;
  runtime?: string;
  container: string;
}

/** `ctr start -a`: runs an existing container again in the foreground. */
export async function startContainer(opts: StartOptions, io: RunIO): Promise<RunResult> {
  const engine = openEngine(opts);
  const rec = findContainer(await reconcile(engine.store), opts.container);
  if (!rec) throw new CtrError(`no such container: ${opts.container}`);
  if (isRunning(engine.store, rec) || rec.state.restarting) throw new CtrError(`container ${rec.name} is already running`);
  const cfg = rec.config as unknown as StoredConfig;
  try {
    const result = await startAttached(engine, rec, io, opts.runtime);
    return { id: rec.id, ...result };
  } finally {
    if (cfg.autoRemove) await removeContainer(engine.store, rec, { force: true, volumes: true, runtime: opts.runtime }).catch(() => {});
  }
}

/** `ctr run -d`: create, start under a monitor, return once the container runs (with --rm, a failed start removes it). */
export async function runDetached(opts: CreateOptions, io: Pick<RunIO, 'progress' | 'notice'>): Promise<{ id: string }> {
  const given = takePrepared();
  releasePrepared({ runtimeCopy: given.runtimeCopy });
  const engine = openEngine(opts);
  // Rootless, conmon's user namespace is made while the container is created (or since prepareRun).
  const userns = usableNamespace(given, engine.mapping);
  try {
    return await runDetachedIn(engine, opts, io, userns);
  } finally {
    releaseUserNamespace(userns);
  }
}

async function runDetachedIn(engine: Engine, opts: CreateOptions, io: Pick<RunIO, 'progress' | 'notice'>, given: Promise<HeldUserNamespace> | undefined): Promise<{ id: string }> {
  return withUserNamespace(engine.mapping, given, async (userns) => {
    const rec = await createContainer(engine, opts, io.progress);
    try {
      const { notices } = await startDetached(engine, rec, { runtime: opts.runtime, userns });
      for (const n of notices) io.notice(n);
    } catch (err) {
      if (opts.rm) await removeContainer(engine.store, rec, { force: true, volumes: true, runtime: opts.runtime }).catch(() => {});
      throw err;
    }
    return { id: rec.id };
  });
}

export interface StartContainersOptions {
  root?: string;
  runroot?: string;
  runtime?: string;
  containers: string[];
  /** Every stopped container (that the filters select), as a boot-time unit wants. */
  all?: boolean;
  /** restart-policy=NAME, name=REGEX, id=PREFIX, label=KEY[=VALUE] */
  filters?: string[];
  notice?: (text: string) => void;
}

export interface StartContainersResult {
  /** What was started (or already ran), as the user named it. */
  started: string[];
  errors: string[];
}

/**
 * `ctr start` without -a: each container under its own monitor, in the background. With --all,
 * every container not running that the filters select; a container stopped by the user whose
 * policy is unless-stopped stays stopped (docker's rule when its daemon starts).
 */
export async function startContainers(opts: StartContainersOptions): Promise<StartContainersResult> {
  const engine = openEngine(opts);
  const list = await reconcile(engine.store);
  const result: StartContainersResult = { started: [], errors: [] };
  const filters = (opts.filters ?? []).map(startFilter);
  const targets: { arg: string; rec: ContainerRecord | undefined }[] = opts.all
    ? list
        .filter((c) => filters.every((f) => f(c)) && !isRunning(engine.store, c) && !c.state.restarting)
        .filter((c) => !(c.state.stoppedByUser && (c.config as unknown as StoredConfig).restartPolicy?.name === 'unless-stopped'))
        .map((c) => ({ arg: c.name, rec: c }))
    : opts.containers.map((arg) => ({ arg, rec: findContainer(list, arg) }));
  for (const { arg, rec } of targets) {
    try {
      if (!rec) throw new CtrError(`no such container: ${arg}`);
      if (!isRunning(engine.store, rec) && !rec.state.restarting) {
        const { notices } = await startDetached(engine, rec, { runtime: opts.runtime });
        for (const n of notices) opts.notice?.(n);
      }
      result.started.push(arg);
    } catch (err) {
      result.errors.push(`cannot start container ${arg}: ${errorMessage(err)}`);
    }
  }
  return result;
}

function startFilter(spec: string): (c: ContainerRecord) => boolean {
  const eq = spec.indexOf('=');
  const key = eq < 0 ? spec : spec.slice(0, eq);
  const value = spec.slice(eq + 1);
  switch (key) {
    case 'restart-policy':
      return (c) => ((c.config as unknown as StoredConfig).restartPolicy?.name ?? 'no') === value;
    case 'name':
      return (c) => new RegExp(value).test(c.name);
    case 'id':
      return (c) => c.id.startsWith(value);
    case 'label': {
      const [k, v] = value.split('=', 2) as [string, string | undefined];
      return (c) => k in c.labels && (v === undefined || c.labels[k] === v);
    }
    default:
      throw new CtrError(`invalid filter "${spec}": ctr start takes restart-policy=, name=, id= and label=`);
  }
}
