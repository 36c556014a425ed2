import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CtrError, errnoCode } from '../errors.js';
import { formatReference, parseReference } from '../image/reference.js';
import type { ImageConfig } from '../image/types.js';
import { findExecutable } from '../runtime/idmap.js';
import { cgroupMode } from '../runtime/oci.js';
import { parseSize } from '../units.js';
import { normalizeCapability } from '../runtime/capabilities.js';
import {
  apparmorEnabled,
  expandEnvFlags,
  imageVolumeTargets,
  parseEnvFile,
  parseMountFlag,
  parseSecurityOpts,
  parseSignal,
  parseTmpfsFlag,
  parseUlimit,
  parseVolumeFlag,
  resolveCommand,
  type MountRequest,
} from '../runtime/spec.js';
import { ContainerIndex, type ContainerMount, type ContainerRecord } from '../store/containers.js';
import { checkContainerName, checkNameFree } from './containers.js';
import type { Engine } from './context.js';
import { findImage, imageConfig } from './images.js';
import { randomName } from './names.js';
import type { PullProgress } from './pull.js';
import type { CreateOptions } from './run-options.js';

/** The options kept in a container record: what start needs to build its spec again. */
export interface StoredConfig {
  /** What runs: the entrypoint followed by the command. */
  command: string[];
  /** The two parts of `command` as docker's Config keeps them (absent in records made before they were kept). */
  entrypoint?: string[];
  cmd?: string[];
  /** Anonymous volumes given as `-v /path` (docker's Config.Volumes; image VOLUMEs are not repeated). */
  volumes?: string[];
  env: string[];
  user?: string;
  groupAdd: string[];
  workdir?: string;
  hostname?: string;
  tty: boolean;
  interactive: boolean;
  readOnly: boolean;
  capAdd: string[];
  capDrop: string[];
  privileged: boolean;
  securityOpt: string[];
  ulimits: string[];
  init: boolean;
  network: 'private' | 'host';
  stopSignal: string;
  stopTimeout?: number;
  memory?: string;
  cpus?: string;
  pidsLimit?: string;
  shmSize?: string;
  runtime?: string;
  autoRemove: boolean;
  /** --restart; absent means no. */
  restartPolicy?: RestartPolicy;
}

/** docker's HostConfig.RestartPolicy. */
export interface RestartPolicy {
  name: 'no' | 'on-failure' | 'always' | 'unless-stopped';
  /** on-failure only: how many restarts at most (0: no limit). */
  maximumRetryCount: number;
}

/** --restart no|on-failure[:N]|always|unless-stopped */
export function parseRestartPolicy(raw: string): RestartPolicy {
  const [name, count, ...rest] = raw.split(':');
  const names = ['no', 'on-failure', 'always', 'unless-stopped'];
  if (!names.includes(name!) || rest.length > 0) throw new CtrError(`invalid restart policy "${raw}": use no, on-failure[:MAX-RETRIES], always or unless-stopped`);
  if (count !== undefined) {
    if (name !== 'on-failure') throw new CtrError(`invalid restart policy "${raw}": only on-failure takes a maximum retry count`);
    if (!/^\d+$/.test(count)) throw new CtrError(`invalid restart policy "${raw}": the maximum retry count must be a whole number`);
  }
  return { name: name as RestartPolicy['name'], maximumRetryCount: count === undefined ? 0 : Number(count) };
}

/**
 * Makes a container: the image (pulled when missing, per --pull), a record with everything
 * start needs, its directory with an empty upper layer and its /etc files, its volumes.
 * Bad input fails before anything is written.
 */
export async function createContainer(engine: Engine, opts: CreateOptions, progress?: PullProgress): Promise<ContainerRecord> {
  const { store } = engine;
  if (opts.name !== undefined) checkContainerName(opts.name);
  if (opts.cidfile && existsSync(opts.cidfile)) throw new CtrError(`the container ID file ${opts.cidfile} already exists; remove it first`);
  // Before any pull: a missing env file is the user's typo, not a reason to fetch an image.
  const env = [...(opts.envFile ?? []).flatMap((f) => parseEnvFile(readEnvFile(f), (n) => process.env[n], f)), ...expandEnvFlags(opts.env ?? [], (n) => process.env[n])];
  const image = await imageFor(engine, opts, progress);
  const config = imageConfig(store, image.record);
  const command = resolveCommand(config.config, { entrypoint: opts.entrypoint, args: opts.args });
  const entrypoint = opts.entrypoint !== undefined ? command.slice(0, command.length - opts.args.length) : (config.config?.Entrypoint ?? []);
  const volumeFlags = (opts.volumes ?? []).map((v) => parseVolumeFlag(v));
  const requests: MountRequest[] = [
    ...volumeFlags,
    ...(opts.mounts ?? []).map((m) => parseMountFlag(m)),
    ...(opts.tmpfs ?? []).map((t) => parseTmpfsFlag(t)),
  ];
  for (const target of imageVolumeTargets(config.config, requests)) requests.push({ type: 'volume', target, readonly: false, nocopy: false });
  for (const u of opts.ulimits ?? []) parseUlimit(u);
  // Checked now, as docker does, so that a bad value leaves no container behind.
  for (const c of [...(opts.capAdd ?? []), ...(opts.capDrop ?? [])]) normalizeCapability(c);
  parseSecurityOpts(opts.securityOpt ?? [], { apparmorEnabled: apparmorEnabled() });
  if (opts.shmSize !== undefined) parseSize(opts.shmSize);
  const stopSignal = opts.stopSignal ?? config.config?.StopSignal ?? 'SIGTERM';
  parseSignal(stopSignal);
  const network = opts.network === undefined || opts.network === 'none' || opts.network === 'private' || opts.network === 'bridge' ? 'private' : opts.network;
  if (network !== 'private' && network !== 'host') throw new CtrError(`--network ${opts.network} is not supported yet: use none (a private network with loopback) or host`);
  if ((opts.memory || opts.cpus || opts.pidsLimit) && engine.mapping.mode !== 'root' && cgroupMode() !== 'v2') {
    throw new CtrError('resource limits (--memory, --cpus, --pids-limit) need a cgroup this user may manage; rootless, that is a delegated cgroup v2, which this host does not have (its cgroups are v1 or hybrid). Run without the limits, or as root');
  }
  if (opts.init && !initBinary()) throw new CtrError('--init needs catatonit or tini on this host: apt-get install catatonit');
  const labels = Object.fromEntries((opts.labels ?? []).map((l) => splitLabel(l)));
  const restartPolicy = opts.restart === undefined ? undefined : parseRestartPolicy(opts.restart);
  if (restartPolicy && restartPolicy.name !== 'no' && opts.rm) throw new CtrError('--restart and --rm conflict: a container removed when it exits cannot be restarted; choose one');

  const id = ContainerIndex.newId();
  const dir = store.containers.path(id);
  mkdirSync(join(dir, 'upper'), { recursive: true, mode: 0o755 });
  mkdirSync(join(dir, 'work'), { mode: 0o700 });
  mkdirSync(join(dir, 'userdata'), { mode: 0o755 });
  const hostname = network === 'host' ? undefined : (opts.hostname ?? id.slice(0, 12));
  writeEtcFiles(join(dir, 'userdata'), hostname, network);

  const anonymous = volumeFlags.flatMap((r) => (r.type === 'volume' && r.name === undefined ? [r.target] : []));
  const stored: StoredConfig = {
    command,
    entrypoint,
    cmd: command.slice(entrypoint.length),
    ...(anonymous.length ? { volumes: anonymous } : {}),
    env,
    user: opts.user,
    groupAdd: opts.groupAdd ?? [],
    workdir: opts.workdir,
    hostname: opts.hostname,
    tty: opts.tty ?? false,
    interactive: opts.interactive ?? false,
    readOnly: opts.readOnly ?? false,
    capAdd: opts.capAdd ?? [],
    capDrop: opts.capDrop ?? [],
    privileged: opts.privileged ?? false,
    securityOpt: opts.securityOpt ?? [],
    ulimits: opts.ulimits ?? [],
    init: opts.init ?? false,
    network,
    stopSignal,
    stopTimeout: opts.stopTimeout,
    memory: opts.memory,
    cpus: opts.cpus,
    pidsLimit: opts.pidsLimit,
    shmSize: opts.shmSize,
    runtime: opts.runtime,
    autoRemove: opts.rm ?? false,
    restartPolicy: restartPolicy?.name === 'no' ? undefined : restartPolicy,
  };
  let record: ContainerRecord | undefined;
  const newVolumes: { name: string; target: string; nocopy: boolean }[] = [];
  try {
    record = await store.updateContainers((containers) => {
      const taken = new Set(containers.map((c) => c.name));
      if (opts.name !== undefined) checkNameFree(containers, opts.name);
      const mounts: ContainerMount[] = requests.map((r) => {
        if (r.type === 'bind') {
          if (!existsSync(r.source)) {
            if (!r.createHostPath) throw new CtrError(`bind source path does not exist: ${r.source}; create it first`);
            mkdirSync(r.source, { recursive: true });
          }
          return { type: 'bind', source: r.source, destination: r.target, readOnly: r.readonly, options: r.propagation ? [r.propagation] : undefined };
        }
        if (r.type === 'tmpfs') return { type: 'tmpfs', source: '', destination: r.target, readOnly: r.readonly, options: r.options };
        const { volume, created } = store.volumes.create(r.name, r.labels ?? {}, { anonymous: r.name === undefined });
        if (created) newVolumes.push({ name: volume.Name, target: r.target, nocopy: r.nocopy });
        return { type: 'volume', source: volume.Name, destination: r.target, readOnly: r.readonly, anonymous: r.name === undefined };
      });
      const rec: ContainerRecord = {
        id,
        name: opts.name ?? randomName(taken),
        image: image.record.id,
        imageName: image.name,
        created: new Date().toISOString(),
        config: stored as unknown as Record<string, unknown>,
        mounts,
        labels,
        state: { status: 'created' },
      };
      containers.push(rec);
      return rec;
    });
  } catch (err) {
    await store.removeTree(dir).catch(() => {});
    throw err;
  }
  await copyUpVolumes(engine, config, newVolumes);
  if (opts.cidfile) writeCidfile(opts.cidfile, id);
  return record;
}

/** A new, empty volume mounted where the image has files gets a copy of them, as docker does. */
async function copyUpVolumes(engine: Engine, config: ImageConfig, volumes: { name: string; target: string; nocopy: boolean }[]): Promise<void> {
  if (volumes.every((v) => v.nocopy)) return;
  const { lookupRootfsPath } = await import('../runtime/rootfs-file.js');
  const { populateFromImage } = await import('./volume.js');
  const lowerdirs = [...config.rootfs.diff_ids].reverse().map((d) => engine.store.layers.diffPath(d));
  for (const v of volumes) {
    if (v.nocopy) continue;
    const source = lookupRootfsPath(lowerdirs, v.target);
    if (source) await populateFromImage(engine.store, v.name, source, engine.mapping);
  }
}

async function imageFor(engine: Engine, opts: CreateOptions, progress?: PullProgress): Promise<{ record: NonNullable<ReturnType<typeof findImage>>; name: string }> {
  const { store } = engine;
  const local = opts.pull === 'always' ? undefined : findImage(store.images.list(), opts.image);
  if (local) return { record: local, name: opts.image };
  if (opts.pull === 'never') throw new CtrError(`no such image: ${opts.image}; pull it first (ctr pull ${opts.image}) or drop --pull=never`);
  let reference: string;
  try {
    reference = formatReference(parseReference(opts.image));
  } catch (err) {
    throw err instanceof CtrError ? err : new CtrError(String(err));
  }
  // The registry client (http, tls) loads only when an image must be pulled.
  const { pullInto } = await import('./pull.js');
  const result = await pullInto(engine, { ...opts, reference, progress });
  const pulled = findImage(store.images.list(), result.id);
  if (!pulled) throw new CtrError(`the image ${opts.image} was pulled but is not in the store any more; try again`);
  return { record: pulled, name: opts.image };
}

export function readEnvFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new CtrError(`cannot read the env file ${path}: ${errnoCode(err) === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}

function splitLabel(l: string): [string, string] {
  const eq = l.indexOf('=');
  return eq < 0 ? [l, ''] : [l.slice(0, eq), l.slice(eq + 1)];
}

/** /etc/hosts, /etc/hostname and /etc/resolv.conf, bind-mounted into the container. */
function writeEtcFiles(dir: string, hostname: string | undefined, network: 'private' | 'host'): void {
  const hostFile = (p: string) => {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      return '';
    }
  };
  if (network === 'host') {
    writeFileSync(join(dir, 'hosts'), hostFile('/etc/hosts'));
    writeFileSync(join(dir, 'hostname'), hostFile('/etc/hostname'));
  } else {
    writeFileSync(join(dir, 'hosts'), `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${hostname}\n`);
    writeFileSync(join(dir, 'hostname'), `${hostname}\n`);
  }
  writeFileSync(join(dir, 'resolv.conf'), hostFile('/etc/resolv.conf'));
}

function writeCidfile(path: string, id: string): void {
  try {
    writeFileSync(path, id, { flag: 'wx' });
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') throw new CtrError(`the container ID file ${path} already exists; remove it first`);
    throw new CtrError(`cannot write the container ID file ${path}: ${(err as Error).message}`);
  }
}

/** catatonit or tini on this host, for --init. */
export function initBinary(): string | undefined {
  return findExecutable('catatonit') ?? findExecutable('tini') ?? findExecutable('tini-static');
}

/** `ctr create`: one container, its ID printed by the caller. */
export async function create(opts: CreateOptions, progress?: PullProgress): Promise<ContainerRecord> {
  const { openEngine } = await import('./context.js');
  return createContainer(openEngine(opts), opts, progress);
}
