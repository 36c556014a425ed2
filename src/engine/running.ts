import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { CtrError } from '../errors.js';
import { inContainerUserNamespace } from '../runtime/nsenter.js';
import { lastRuntimeError, RuntimeClient, type OciRuntime } from '../runtime/oci.js';
import type { ContainerRecord } from '../store/containers.js';
import { findContainer, isAlive, reconcile } from './containers.js';
import type { Engine } from './context.js';
import type { StoredConfig } from './create.js';
import { runtimeFor } from './start.js';

/** A running container and how to reach it: the commands that act on one (exec, attach, pause, stats). */
export interface RunningContainer {
  rec: ContainerRecord;
  cfg: StoredConfig;
  runtime: OciRuntime;
  /** argv run inside the container's user namespace (rootless), so the runtime may act on its processes. */
  inNamespace(argv: string[]): string[];
  /** Spawns argv inside the container's user namespace. */
  spawn(argv: string[], stdio?: StdioOptions, env?: NodeJS.ProcessEnv): ChildProcess;
  /** The OCI runtime's verbs (state, kill...) run inside that namespace. */
  client(): RuntimeClient;
  /** `runtime --root STATE args...` inside that namespace: its output, or a CtrError with what it said. */
  runtimeCall(args: string[]): Promise<string>;
}

/**
 * The container named `name`, which must be running; else a CtrError in docker's words
 * ("container web is not running"). `allowPaused` accepts a paused one (unpause, stats).
 */
export async function findRunning(engine: Engine, name: string, opts: { allowPaused?: boolean; globalRuntime?: string } = {}): Promise<RunningContainer> {
  const { store, mapping } = engine;
  const rec = findContainer(await reconcile(store), name);
  if (!rec) throw new CtrError(`no such container: ${name}`);
  const alive = (rec.state.status === 'running' || rec.state.status === 'paused') && isAlive(rec);
  if (!alive) throw new CtrError(`container ${rec.name} is not running`);
  if (rec.state.status === 'paused' && !opts.allowPaused) throw new CtrError(`container ${rec.name} is paused: unpause it first (ctr unpause ${rec.name})`);
  const cfg = rec.config as unknown as StoredConfig;
  const runtime = runtimeFor(cfg, opts.globalRuntime);
  const pid = rec.state.pid!;
  const inNamespace = (argv: string[]) => inContainerUserNamespace(mapping, pid, argv);
  const spawnIn = (argv: string[], stdio: StdioOptions = ['ignore', 'pipe', 'pipe'], env: NodeJS.ProcessEnv = process.env) => {
    const full = inNamespace(argv);
    return spawn(full[0]!, full.slice(1), { stdio, env });
  };
  return {
    rec,
    cfg,
    runtime,
    inNamespace,
    spawn: spawnIn,
    client: () => new RuntimeClient(runtime, store.runtimeStateDir(), (argv) => spawnIn(argv)),
    runtimeCall: (args) =>
      new Promise<string>((resolve, reject) => {
        const child = spawnIn([runtime.path, '--root', store.runtimeStateDir(), ...args]);
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout!.on('data', (d: Buffer) => out.push(d));
        child.stderr!.on('data', (d: Buffer) => err.push(d));
        child.on('error', (e) => reject(new CtrError(`cannot run ${runtime.path}: ${e.message}`)));
        child.on('close', (code) => {
          if (code === 0) resolve(Buffer.concat(out).toString());
          else reject(new CtrError(lastRuntimeError(Buffer.concat(err).toString()) || `${runtime.name} ${args[0]} failed with exit code ${code}`));
        });
      }),
  };
}
