import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CtrError, errorMessage } from '../errors.js';
import { detectIdMapping, type IdMapping } from '../runtime/idmap.js';
import { spawnInUserNamespace } from '../runtime/userns.js';
import type { ContainerRecord } from '../store/containers.js';
import type { Store } from '../store/store.js';
import { VOLUME_NAME, type VolumeRecord } from '../store/volumes.js';
import { openEngine, type EngineOptions } from './context.js';

/** Options of docker's local driver; anything else is refused as docker does. */
const LOCAL_DRIVER_OPTIONS = ['type', 'device', 'o'];

/** `--label k=v` / `--opt k=v` lists as docker reads them: split at the first '='; a bare key means "". */
export function parseKeyValues(list: string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    if (key === '') throw new CtrError(`${flag} "${item}" has no key: use ${flag} KEY=VALUE`);
    out[key] = eq < 0 ? '' : item.slice(eq + 1);
  }
  return out;
}

export interface CreateVolumeOptions extends EngineOptions {
  /** Without a name, a random 64-hex one (a named volume all the same, as in docker). */
  name?: string;
  labels?: Record<string, string>;
  options?: Record<string, string>;
}

/** `volume create`: makes the volume, or returns the one of that name (docker prints it again). */
export async function createVolume(opts: CreateVolumeOptions): Promise<VolumeRecord> {
  for (const key of Object.keys(opts.options ?? {})) {
    if (!LOCAL_DRIVER_OPTIONS.includes(key)) {
      throw new CtrError(`invalid volume option "${key}": the local driver takes ${LOCAL_DRIVER_OPTIONS.join(', ')}`);
    }
  }
  const { store } = openEngine(opts);
  return store.locked(() => store.volumes.create(opts.name, opts.labels ?? {}, { options: opts.options }).volume);
}

/** One volume as `volume ls` sees it. */
export interface VolumeSummary {
  name: string;
  driver: string;
  scope: string;
  mountpoint: string;
  createdAt: string;
  labels: Record<string, string>;
  anonymous: boolean;
  /** How many containers use it (undefined with quiet, when nobody asked). */
  links?: number;
}

type Filters = Map<string, string[]>;

function parseFilters(specs: string[], allowed: string[], command: string): Filters {
  const filters: Filters = new Map();
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    if (eq <= 0) throw new CtrError(`invalid filter "${spec}": use KEY=VALUE, e.g. ${allowed[0]}=...`);
    const key = spec.slice(0, eq);
    if (!allowed.includes(key)) throw new CtrError(`invalid filter "${key}": ${command} takes ${allowed.join(', ')}`);
    const value = spec.slice(eq + 1);
    if (key === 'dangling' || key === 'all') parseBoolFilter(key, value);
    filters.set(key, [...(filters.get(key) ?? []), value]);
  }
  return filters;
}

function parseBoolFilter(key: string, value: string): boolean {
  if (/^(true|1)$/i.test(value)) return true;
  if (/^(false|0)$/i.test(value)) return false;
  throw new CtrError(`invalid filter "${key}=${value}": ${key} takes true or false`);
}

/** label=KEY or label=KEY=VALUE against a volume's labels. */
function labelMatches(labels: Record<string, string>, spec: string): boolean {
  const eq = spec.indexOf('=');
  if (eq < 0) return spec in labels;
  const key = spec.slice(0, eq);
  return key in labels && labels[key] === spec.slice(eq + 1);
}

/** docker matches name filters as regular expressions (a plain word is a substring). */
function nameMatches(name: string, pattern: string): boolean {
  try {
    return new RegExp(pattern).test(name);
  } catch {
    return name.includes(pattern);
  }
}

/** Volume name -> the containers whose mounts use it. */
function volumeUsers(containers: ContainerRecord[], except?: string): Map<string, ContainerRecord[]> {
  const users = new Map<string, ContainerRecord[]>();
  for (const c of containers) {
    if (c.id === except) continue;
    for (const m of c.mounts) {
      if (m.type !== 'volume') continue;
      const list = users.get(m.source) ?? [];
      if (!list.includes(c)) list.push(c);
      users.set(m.source, list);
    }
  }
  return users;
}

function summary(v: VolumeRecord, links?: number): VolumeSummary {
  return {
    name: v.Name,
    driver: v.Driver,
    scope: v.Scope,
    mountpoint: v.Mountpoint,
    createdAt: v.CreatedAt,
    labels: v.Labels,
    anonymous: v.anonymous,
    links,
  };
}

export interface ListVolumesOptions extends EngineOptions {
  /** dangling=true|false, name=PATTERN, label=KEY[=VALUE], driver=local. */
  filters?: string[];
  quiet?: boolean;
}

/** `volume ls`: volumes sorted by name. Same-key filters are alternatives, except label (all must match). */
export function listVolumes(opts: ListVolumesOptions): VolumeSummary[] {
  const filters = parseFilters(opts.filters ?? [], ['dangling', 'name', 'label', 'driver'], 'volume ls');
  const { store } = openEngine(opts);
  const needUsers = !opts.quiet || filters.has('dangling');
  const users = needUsers ? volumeUsers(store.containers.list()) : undefined;
  const rows: VolumeSummary[] = [];
  for (const v of store.volumes.list()) {
    const links = users?.get(v.Name)?.length ?? (users ? 0 : undefined);
    const dangling = filters.get('dangling');
    if (dangling && !dangling.some((d) => parseBoolFilter('dangling', d) === (links === 0))) continue;
    const names = filters.get('name');
    if (names && !names.some((n) => nameMatches(v.Name, n))) continue;
    const drivers = filters.get('driver');
    if (drivers && !drivers.includes(v.Driver)) continue;
    const labels = filters.get('label');
    if (labels && !labels.every((l) => labelMatches(v.Labels, l))) continue;
    rows.push(summary(v, links));
  }
  return rows;
}

/** docker volume inspect's object (its field order). */
export interface VolumeInspect {
  CreatedAt: string;
  Driver: string;
  Labels: Record<string, string>;
  Mountpoint: string;
  Name: string;
  Options: Record<string, string> | null;
  Scope: string;
}

export function inspectVolume(v: VolumeRecord): VolumeInspect {
  return {
    CreatedAt: v.CreatedAt,
    Driver: v.Driver,
    Labels: v.Labels,
    Mountpoint: v.Mountpoint,
    Name: v.Name,
    Options: v.anonymous && Object.keys(v.Options).length === 0 ? null : v.Options,
    Scope: v.Scope,
  };
}

export interface InspectVolumesOptions extends EngineOptions {
  names: string[];
}

export function inspectVolumes(opts: InspectVolumesOptions): { found: VolumeInspect[]; missing: string[] } {
  const { store } = openEngine(opts);
  const found: VolumeInspect[] = [];
  const missing: string[] = [];
  for (const name of opts.names) {
    const v = store.volumes.get(name);
    if (v) found.push(inspectVolume(v));
    else missing.push(name);
  }
  return { found, missing };
}

function describeUsers(users: ContainerRecord[]): string {
  const shown = users.slice(0, 3).map((c) => `${c.name} (${c.id.slice(0, 12)})`);
  const more = users.length > 3 ? ` and ${users.length - 3} more` : '';
  return `${users.length > 1 ? 'containers' : 'container'} ${shown.join(', ')}${more}`;
}

export interface RemoveVolumesOptions extends EngineOptions {
  names: string[];
  /** Remove volumes in use too, and say nothing of names that do not exist. */
  force?: boolean;
}

export interface RemoveVolumesResult {
  removed: string[];
  errors: string[];
}

/** `volume rm`: each name in turn; a failure does not stop the others. */
export async function removeVolumes(opts: RemoveVolumesOptions): Promise<RemoveVolumesResult> {
  const { store } = openEngine(opts);
  const result: RemoveVolumesResult = { removed: [], errors: [] };
  const detached = await store.locked(() => {
    const users = volumeUsers(store.containers.list());
    const out: { name: string; trash: string }[] = [];
    for (const name of opts.names) {
      if (!store.volumes.exists(name)) {
        if (!opts.force) result.errors.push(`no such volume: ${name}`);
        continue;
      }
      const using = users.get(name);
      if (using && !opts.force) {
        result.errors.push(`remove ${name}: volume is in use by ${describeUsers(using)}; remove the container first, or use --force`);
        continue;
      }
      const trash = store.volumes.detach(name);
      if (trash) out.push({ name, trash });
    }
    return out;
  });
  for (const { name, trash } of detached) {
    try {
      await store.volumes.purge(trash);
    } catch (err) {
      // The volume is gone already (renamed away); only its files may linger in the trash.
      result.errors.push(`volume ${name} was removed but some of its files were not: ${errorMessage(err)}`);
    }
    result.removed.push(name);
  }
  return result;
}

export interface PruneVolumesOptions extends EngineOptions {
  /** Named volumes too, not only anonymous ones (docker >= 23). */
  all?: boolean;
  /** label=KEY[=VALUE], label!=KEY[=VALUE], all=true|false. */
  filters?: string[];
}

export interface PruneVolumesResult {
  deleted: string[];
  /** Bytes freed (what could be read of the volumes' data). */
  reclaimed: number;
}

/** `volume prune`: removes the volumes no container uses; without all, only anonymous ones. */
export async function pruneVolumes(opts: PruneVolumesOptions): Promise<PruneVolumesResult> {
  const filters = parseFilters(opts.filters ?? [], ['label', 'label!', 'all'], 'volume prune');
  const all = opts.all || (filters.get('all') ?? []).some((v) => parseBoolFilter('all', v));
  const { store, mapping } = openEngine(opts);
  const detached = await store.locked(() => {
    const users = volumeUsers(store.containers.list());
    const out: { name: string; trash: string }[] = [];
    for (const v of store.volumes.list()) {
      if (users.has(v.Name) || !(all || v.anonymous)) continue;
      if (!(filters.get('label') ?? []).every((l) => labelMatches(v.Labels, l))) continue;
      if ((filters.get('label!') ?? []).some((l) => labelMatches(v.Labels, l))) continue;
      const trash = store.volumes.detach(v.Name);
      if (trash) out.push({ name: v.Name, trash });
    }
    return out;
  });
  const reclaimed = await measure(store, mapping, detached.map((d) => d.trash));
  for (const { trash } of detached) await store.volumes.purge(trash).catch(() => {});
  await store.volumes.emptyTrash();
  return { deleted: detached.map((d) => d.name), reclaimed };
}

/** A volume ready to be mounted: its data directory is the bind-mount source. */
export interface VolumeMountSource {
  name: string;
  path: string;
  /** Made just now (named volumes are created on first use, as docker does). */
  created: boolean;
}

/**
 * For the run engine: the named volume NAME, created when missing. Takes the store lock: do not
 * call it while holding it (inside store.updateContainers use store.volumes.create directly).
 */
export async function ensureVolume(store: Store, name: string): Promise<VolumeMountSource> {
  const { volume, created } = await store.locked(() => store.volumes.create(name));
  return { name: volume.Name, path: volume.Mountpoint, created };
}

/** For the run engine: a fresh anonymous volume (image VOLUME, `-v /path`), labelled as docker does. */
export async function createAnonymousVolume(store: Store): Promise<VolumeMountSource> {
  const { volume } = await store.locked(() => store.volumes.create(undefined, {}, { anonymous: true }));
  return { name: volume.Name, path: volume.Mountpoint, created: true };
}

/**
 * For rm -v and --rm: removes the container's anonymous volumes that no other container uses
 * (docker keeps one that `--volumes-from` shares). Returns the names removed.
 */
export async function removeContainerVolumes(store: Store, container: ContainerRecord): Promise<string[]> {
  const names = [...new Set(container.mounts.filter((m) => m.type === 'volume' && m.anonymous).map((m) => m.source))];
  if (names.length === 0) return [];
  const detached = await store.locked(() => {
    const users = volumeUsers(store.containers.list(), container.id);
    const out: { name: string; trash: string }[] = [];
    for (const name of names) {
      if (users.has(name) || !VOLUME_NAME.test(name)) continue;
      const trash = store.volumes.detach(name);
      if (trash) out.push({ name, trash });
    }
    return out;
  });
  for (const { trash } of detached) await store.volumes.purge(trash).catch(() => {});
  return detached.map((d) => d.name);
}

/**
 * Docker's copy-up: when a container mounts an EMPTY volume where its image has files, they are
 * copied in, owners, modes and xattrs kept (the volume's root takes the image directory's owner and
 * mode too). Rootless, the copy runs inside the user namespace so subordinate owners survive.
 * Returns whether anything was copied (false: the volume had data, or sourceDir is no directory).
 */
export async function populateFromImage(store: Store, name: string, sourceDir: string, mapping: IdMapping = detectIdMapping()): Promise<boolean> {
  if (!store.volumes.exists(name)) throw new CtrError(`no such volume: ${name}`);
  const lock = await store.volumes.lockVolume(name);
  try {
    // Readable from here and not empty: no need to enter the namespace (the usual case after the first run).
    if (readableAndNotEmpty(store.volumes.dataPath(name))) return false;
    const { code, stderr } = await inUserNamespace(mapping, ['sh', '-c', COPY_UP_SCRIPT, 'sh', sourceDir, store.volumes.dataPath(name)]);
    if (code === COPY_UP_NOT_EMPTY || code === COPY_UP_NO_SOURCE) return false;
    if (code !== 0) {
      const reason = stderr.trim().split('\n').at(-1) || `cp exited with ${code}`;
      throw new CtrError(`cannot copy the image's files from ${sourceDir} into volume ${name}: ${reason}`);
    }
    return true;
  } finally {
    lock.release();
  }
}

const COPY_UP_NOT_EMPTY = 3;
const COPY_UP_NO_SOURCE = 4;
/** The checks run inside the namespace too: a container may have made the volume unreadable to the user. */
const COPY_UP_SCRIPT = `[ -d "$1" ] || exit ${COPY_UP_NO_SOURCE}; [ -z "$(ls -A -- "$2")" ] || exit ${COPY_UP_NOT_EMPTY}; exec cp -a -- "$1/." "$2/"`;

function readableAndNotEmpty(dir: string): boolean {
  try {
    return readdirSync(dir).length > 0;
  } catch {
    return false;
  }
}

/** Runs argv inside ctr's user namespace (directly as root) and collects its exit code and stderr. */
async function inUserNamespace(mapping: IdMapping, argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnInUserNamespace(mapping, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d: Buffer) => err.push(d));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  await child.ready;
  return { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

/**
 * Bytes of detached volumes' data. Rootless, files of subordinate ids may be unreadable to the
 * user, so du runs inside the namespace; best effort either way.
 */
async function measure(store: Store, mapping: IdMapping, trashPaths: string[]): Promise<number> {
  if (trashPaths.length === 0) return 0;
  if (mapping.mode === 'root') return trashPaths.reduce((sum, p) => sum + store.volumes.diskUsage(p), 0);
  try {
    const { stdout } = await inUserNamespace(mapping, ['find', ...trashPaths.map((p) => join(p, '_data')), '!', '-type', 'd', '-printf', '%D:%i %n %s\\n']);
    // Directories count for nothing and a hard-linked file once, as diskUsage counts.
    const seen = new Set<string>();
    let total = 0;
    for (const line of stdout.split('\n')) {
      const [key, links, size] = line.split(' ');
      if (!key || !size) continue;
      if (links !== '1' && seen.has(key)) continue;
      seen.add(key);
      total += Number(size);
    }
    return total;
  } catch {
    return 0;
  }
}
