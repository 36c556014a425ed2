import { existsSync, readFileSync, statSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CtrError } from '../errors.js';
import { shortId } from '../image/digest.js';
import type { ContainerConfig, ImageConfig } from '../image/types.js';
import type { ContainerRecord, ContainerState, ContainerStatus } from '../store/containers.js';
import type { Store } from '../store/store.js';
import { openEngine, type Engine, type EngineOptions } from './context.js';
import type { RestartPolicy, StoredConfig } from './create.js';

/** Finds a container by full id, unique id prefix, or name, as docker does. */
export function findContainer(containers: ContainerRecord[], s: string): ContainerRecord | undefined {
  const byName = containers.find((c) => c.name === s || `/${c.name}` === s);
  if (byName) return byName;
  if (/^[a-f0-9]{1,64}$/.test(s)) {
    const hits = containers.filter((c) => c.id.startsWith(s));
    if (hits.length > 1) throw new CtrError(`the container id prefix ${s} is ambiguous: it matches ${hits.length} containers; give more digits or the name`);
    return hits[0];
  }
  return undefined;
}

/** docker's rule for container names, at create and rename. */
export function checkContainerName(name: string): void {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw new CtrError(`invalid container name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
}

/** Throws when another container already has the name (a container may keep its own). */
export function checkNameFree(containers: ContainerRecord[], name: string, self?: string): void {
  const other = containers.find((c) => c.name === name && c.id !== self);
  if (other) throw new CtrError(`the container name "${name}" is already in use by container ${other.id.slice(0, 12)}; remove it (ctr rm ${name}) or choose another name`);
}

export function resolveContainer(store: Store, s: string): ContainerRecord {
  const c = findContainer(store.containers.list(), s);
  if (!c) throw new CtrError(`no such container: ${s}`);
  return c;
}

/**
 * The start time of a live process (field 22 of /proc/PID/stat), to tell it from a later one with
 * its pid; undefined once it has ended, even while it waits to be reaped (a zombie).
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' || fields[0] === 'X' ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

/** Whether the process a running container was recorded with is still that process. */
export function isAlive(c: ContainerRecord): boolean {
  const { pid, pidStartTime } = c.state;
  if (!pid) return false;
  const now = processStartTime(pid);
  return now !== undefined && (pidStartTime === undefined || now === pidStartTime);
}

/** Whether a detached container's monitor (conmon) still runs. */
export function monitorAlive(c: ContainerRecord): boolean {
  const { monitorPid, monitorStartTime } = c.state;
  return monitorPid !== undefined && processStartTime(monitorPid) === monitorStartTime;
}

export interface MonitorExit {
  code: number;
  /** When the monitor wrote it: the exit file's mtime. */
  at: string;
  oomKilled: boolean;
}

/** What a detached container's monitor recorded when its process ended, if it has. */
export function monitorExit(store: Store, id: string): MonitorExit | undefined {
  const paths = store.monitorPaths(id);
  try {
    const text = readFileSync(paths.exitFile, 'utf8').trim();
    const at = statSync(paths.exitFile).mtime.toISOString();
    return { code: /^-?\d+$/.test(text) ? Number(text) : 255, at, oomKilled: existsSync(paths.oomFile) };
  } catch {
    return undefined;
  }
}

/** Whether a container counts as running: recorded so, and its process (or its monitor, until it recorded the exit) is there. */
export function isRunning(store: Store, c: ContainerRecord): boolean {
  if (c.state.status !== 'running' && c.state.status !== 'paused') return false;
  if (c.state.monitorPid === undefined) return isAlive(c);
  return monitorAlive(c) && !existsSync(store.monitorPaths(c.id).exitFile);
}

/** docker's rules: on-failure restarts non-zero exits (at most N times), always and unless-stopped any exit; none after a stop by the user. */
export function shouldRestart(policy: RestartPolicy | undefined, code: number, state: ContainerState): boolean {
  if (!policy || policy.name === 'no' || state.stoppedByUser) return false;
  if (policy.name === 'on-failure') return code !== 0 && (policy.maximumRetryCount === 0 || (state.restartCount ?? 0) < policy.maximumRetryCount);
  return true;
}

/**
 * The state a container really is in, when its record is out of date (undefined: it is not).
 * A detached container's monitor leaves an exit file; one whose monitor is gone without leaving
 * one (killed, or the machine restarted and the run directory is gone) has exited too.
 */
function truth(store: Store, c: ContainerRecord, now: string): ContainerState | undefined {
  const s = c.state;
  if (s.status === 'exited' && s.restarting && !monitorAlive(c)) return { ...s, restarting: undefined };
  if (s.status !== 'running' && s.status !== 'paused') return undefined;
  if (s.monitorPid === undefined) {
    if (isAlive(c)) return undefined;
    return { ...s, status: 'exited', pid: undefined, finishedAt: s.finishedAt ?? now, exitCode: s.exitCode ?? 255 };
  }
  const exit = monitorExit(store, c.id);
  if (exit) {
    // Until the monitor's exit command has run, a container its policy restarts is restarting, not exited.
    const restarting = monitorAlive(c) && shouldRestart((c.config as { restartPolicy?: RestartPolicy }).restartPolicy, exit.code, s);
    return { ...s, status: 'exited', pid: undefined, finishedAt: exit.at, exitCode: exit.code, oomKilled: exit.oomKilled || undefined, error: undefined, restarting: restarting || undefined };
  }
  if (monitorAlive(c)) return undefined;
  const error = existsSync(store.containerRunDir(c.id))
    ? 'its monitor (conmon) ended without recording an exit code; the container was stopped'
    : 'its run directory is gone (the machine restarted); the container was stopped';
  return { ...s, status: 'exited', pid: undefined, finishedAt: now, exitCode: 255, error };
}

/**
 * Reconstructs the truth without a daemon: a container recorded as running whose process is
 * gone (killed without ctr, its monitor killed, or the machine rebooted) is exited. The process
 * of a detached container whose monitor died is ended: nothing would keep its output or exit
 * code any more. Returns the corrected list.
 */
export async function reconcile(store: Store): Promise<ContainerRecord[]> {
  const list = store.containers.list();
  const now = new Date().toISOString();
  if (!list.some((c) => truth(store, c, now) !== undefined)) return list;
  const orphans: ContainerState[] = [];
  const result = await store.updateContainers((containers) => {
    for (const c of containers) {
      const next = truth(store, c, now);
      if (!next) continue;
      if (c.state.monitorPid !== undefined && c.state.status !== 'exited' && isAlive(c)) orphans.push(c.state);
      c.state = next;
    }
    return containers;
  });
  for (const o of orphans) {
    try {
      // The user owns the container's user namespace, so may signal its processes.
      process.kill(o.pid!, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  return result;
}

export interface ContainerRow {
  id: string;
  name: string;
  image: string;
  command: string;
  created: string;
  /** docker's State: the record's, or 'restarting' while the restart policy is about to start it again. */
  status: ContainerStatus | 'restarting';
  exitCode?: number;
  restartCount?: number;
  startedAt?: string;
  finishedAt?: string;
  labels: Record<string, string>;
  mounts: string[];
  sizeRw?: number;
}

export interface ListContainersOptions extends EngineOptions {
  all?: boolean;
  filters?: string[];
  size?: boolean;
}

export async function listContainers(opts: ListContainersOptions): Promise<ContainerRow[]> {
  const { store } = openEngine(opts);
  const containers = await reconcile(store);
  const filters = (opts.filters ?? []).map(parseFilter);
  const rows: ContainerRow[] = [];
  // Plain comparison: ISO times sort as strings, and localeCompare would load ICU (milliseconds).
  for (const c of [...containers].sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0))) {
    if (!opts.all && c.state.status !== 'running' && c.state.status !== 'paused' && !c.state.restarting && !filters.length) continue;
    const row: ContainerRow = {
      id: c.id,
      name: c.name,
      image: c.imageName,
      command: ((c.config.command as string[] | undefined) ?? []).join(' '),
      created: c.created,
      status: c.state.restarting ? 'restarting' : c.state.status,
      exitCode: c.state.exitCode,
      restartCount: c.state.restartCount,
      startedAt: c.state.startedAt,
      finishedAt: c.state.finishedAt,
      labels: c.labels,
      mounts: c.mounts.map((m) => m.source || m.destination),
    };
    if (!filters.every((f) => f(row, c))) continue;
    if (opts.size) row.sizeRw = await treeSize(join(store.containers.path(c.id), 'upper'));
    rows.push(row);
  }
  return rows;
}

async function treeSize(dir: string): Promise<number> {
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(d);
    } catch {
      return;
    }
    for (const n of names) {
      const st = await lstat(join(d, n)).catch(() => undefined);
      if (!st) continue;
      if (st.isDirectory()) await walk(join(d, n));
      else total += st.size;
    }
  };
  await walk(dir);
  return total;
}

function parseFilter(spec: string): (row: ContainerRow, c: ContainerRecord) => boolean {
  const eq = spec.indexOf('=');
  if (eq < 0) throw new CtrError(`invalid filter "${spec}": use KEY=VALUE, e.g. status=exited or name=web`);
  const key = spec.slice(0, eq);
  const value = spec.slice(eq + 1);
  switch (key) {
    case 'status': {
      const known = ['created', 'running', 'paused', 'exited', 'restarting', 'removing', 'dead'];
      if (!known.includes(value)) throw new CtrError(`invalid filter "${spec}": status is one of ${known.join(', ')}`);
      return (row) => row.status === value;
    }
    case 'name':
      return (row) => new RegExp(value).test(row.name);
    case 'id':
      return (row) => row.id.startsWith(value);
    case 'ancestor':
      return (row, c) => row.image === value || c.image === value || c.image.slice(7).startsWith(value) || c.imageName.split(':')[0] === value;
    case 'label': {
      const [k, v] = value.split('=', 2) as [string, string | undefined];
      return (row) => k in row.labels && (v === undefined || row.labels[k] === v);
    }
    case 'exited':
      return (row) => row.status === 'exited' && String(row.exitCode) === value;
    default:
      throw new CtrError(`unknown filter "${key}": ctr ps takes status, name, id, ancestor, label and exited`);
  }
}

export function displayId(c: { id: string }, noTrunc = false): string {
  return noTrunc ? c.id : shortId(c.id);
}

export type { Engine };

/** docker container inspect's shape, with docker's field names where they exist. */
export function inspectContainer(store: Store, c: ContainerRecord): Record<string, unknown> {
  const cfg = c.config as {
    command?: string[];
    env?: string[];
    user?: string;
    workdir?: string;
    hostname?: string;
    tty?: boolean;
    interactive?: boolean;
    stopSignal?: string;
    readOnly?: boolean;
    privileged?: boolean;
    capAdd?: string[];
    capDrop?: string[];
    network?: string;
    autoRemove?: boolean;
    init?: boolean;
  };
  const running = isRunning(store, c);
  const policy = (c.config as { restartPolicy?: { name: string; maximumRetryCount: number } }).restartPolicy;
  const [path, ...args] = cfg.command ?? [];
  const own = containerConfig(imageConfigOf(store, c), c);
  return {
    Id: c.id,
    Created: c.created,
    Path: path ?? '',
    Args: args,
    State: inspectState(c, running),
    Image: c.image,
    Name: `/${c.name}`,
    RestartCount: c.state.restartCount ?? 0,
    HostConfig: {
      AutoRemove: cfg.autoRemove ?? false,
      RestartPolicy: { Name: policy?.name ?? 'no', MaximumRetryCount: policy?.maximumRetryCount ?? 0 },
      Privileged: cfg.privileged ?? false,
      ReadonlyRootfs: cfg.readOnly ?? false,
      CapAdd: cfg.capAdd ?? [],
      CapDrop: cfg.capDrop ?? [],
      NetworkMode: cfg.network === 'host' ? 'host' : 'none',
      Init: cfg.init ?? false,
    },
    Mounts: c.mounts.map((m) => ({
      Type: m.type,
      Name: m.type === 'volume' ? m.source : undefined,
      Source: m.type === 'volume' ? store.volumes.dataPath(m.source) : m.source,
      Destination: m.destination,
      RW: !m.readOnly,
    })),
    Config: {
      Hostname: cfg.hostname ?? c.id.slice(0, 12),
      User: own.User ?? '',
      Tty: cfg.tty ?? false,
      OpenStdin: cfg.interactive ?? false,
      Env: own.Env ?? [],
      Cmd: own.Cmd ?? null,
      Image: c.imageName,
      Volumes: own.Volumes ?? null,
      WorkingDir: own.WorkingDir ?? '',
      Entrypoint: own.Entrypoint ?? null,
      Labels: own.Labels ?? {},
      StopSignal: cfg.stopSignal ?? 'SIGTERM',
    },
    LogPath: join(store.containers.path(c.id), 'ctr.log'),
  };
}

/** The runtime config of a container's image; undefined when the image is gone from the store. */
function imageConfigOf(store: Store, c: ContainerRecord): ContainerConfig | undefined {
  try {
    return store.blobs.getJson<ImageConfig>(c.image).config;
  } catch {
    return undefined;
  }
}

const sameList = (a: string[] | null | undefined, b: string[] | null | undefined) => (a ?? []).length === (b ?? []).length && (a ?? []).every((x, i) => x === b![i]);
const envKey = (e: string) => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e);

/**
 * The entrypoint and command a container runs, split as docker keeps them. Records made before the
 * split was kept have only the whole command line: the image's entrypoint, or else --entrypoint's one word, leads it.
 */
export function splitCommand(image: ContainerConfig | undefined, cfg: Partial<StoredConfig>): { entrypoint: string[]; cmd: string[] } {
  if (cfg.entrypoint && cfg.cmd) return { entrypoint: cfg.entrypoint, cmd: cfg.cmd };
  const command = cfg.command ?? [];
  const imageEntrypoint = image?.Entrypoint ?? [];
  if (imageEntrypoint.length === 0 || sameList(command.slice(0, imageEntrypoint.length), imageEntrypoint)) {
    return { entrypoint: imageEntrypoint, cmd: command.slice(imageEntrypoint.length) };
  }
  return { entrypoint: command.slice(0, 1), cmd: command.slice(1) };
}

/**
 * The container's own config, as docker keeps it and copies into a committed image: what the run
 * said (-e, -w, -u, --entrypoint and its arguments, --label, -v /path, --stop-signal) over its image's.
 */
export function containerConfig(image: ContainerConfig | undefined, rec: ContainerRecord): ContainerConfig {
  const cfg = rec.config as Partial<StoredConfig>;
  const out: ContainerConfig = structuredClone(image ?? {});
  // A bare NAME (-e NAME, unset where ctr ran) took NAME out of the container's environment.
  const runEnv = cfg.env ?? [];
  if (runEnv.length > 0) {
    const keys = new Set(runEnv.map(envKey));
    out.Env = [...runEnv.filter((e) => e.includes('=')), ...(out.Env ?? []).filter((e) => !keys.has(envKey(e)))];
  }
  if (cfg.user) out.User = cfg.user;
  if (cfg.workdir) out.WorkingDir = cfg.workdir;
  const { entrypoint, cmd } = splitCommand(image, cfg);
  if (!sameList(entrypoint, image?.Entrypoint)) out.Entrypoint = entrypoint.length > 0 ? entrypoint : null;
  if (!sameList(cmd, image?.Cmd)) out.Cmd = cmd.length > 0 ? cmd : null;
  if (Object.keys(rec.labels).length > 0) out.Labels = { ...(out.Labels ?? {}), ...rec.labels };
  if (cfg.volumes?.length) out.Volumes = { ...(out.Volumes ?? {}), ...Object.fromEntries(cfg.volumes.map((v) => [v, {}])) };
  // Kept already resolved against the image (default SIGTERM): only a --stop-signal of its own differs.
  if (cfg.stopSignal && cfg.stopSignal !== (image?.StopSignal ?? 'SIGTERM')) out.StopSignal = cfg.stopSignal;
  return out;
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

/**
 * docker's State, field for field and in its order: a paused container is still Running, and so
 * is one its restart policy is about to start again (docker counts it as running, with no Pid).
 */
function inspectState(c: ContainerRecord, running: boolean): Record<string, unknown> {
  const s = c.state;
  const restarting = !running && (s.restarting ?? false);
  const paused = running && s.status === 'paused';
  return {
    Status: restarting ? 'restarting' : running ? s.status : s.status === 'created' ? 'created' : 'exited',
    Running: running || restarting,
    Paused: paused,
    Restarting: restarting,
    OOMKilled: running ? false : (s.oomKilled ?? false),
    Dead: false,
    Pid: running ? (s.pid ?? 0) : 0,
    ExitCode: running ? 0 : (s.exitCode ?? 0),
    Error: running ? '' : (s.error ?? ''),
    StartedAt: s.startedAt ?? ZERO_TIME,
    FinishedAt: s.finishedAt ?? ZERO_TIME,
  };
}

/** `ctr inspect`: containers first, then images, as docker looks them up; --type narrows it. */
export async function inspectObjects(opts: EngineOptions & { names: string[]; type?: 'image' | 'container' }): Promise<{ found: Record<string, unknown>[]; missing: string[] }> {
  const { store } = openEngine(opts);
  const { findImage, inspectImage } = await import('./images.js');
  const containers = opts.type === 'image' ? [] : await reconcile(store);
  const images = opts.type === 'container' ? [] : store.images.list();
  const found: Record<string, unknown>[] = [];
  const missing: string[] = [];
  for (const name of opts.names) {
    const c = opts.type === 'image' ? undefined : findContainer(containers, name);
    if (c) {
      found.push(inspectContainer(store, c));
      continue;
    }
    const img = opts.type === 'container' ? undefined : findImage(images, name);
    if (img) found.push(inspectImage(store, img));
    else missing.push(name);
  }
  return { found, missing };
}
