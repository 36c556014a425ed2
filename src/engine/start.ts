import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CtrError } from '../errors.js';
import type { ImageConfig } from '../image/types.js';
import { findRuntime } from '../runtime/oci.js';
import {
  apparmorEnabled,
  buildResources,
  buildSpec,
  parseSecurityOpts,
  parseUlimit,
  probeHost,
  type ContainerMount as SpecMount,
  type Propagation,
  type RuntimeSpec,
} from '../runtime/spec.js';
import { parseSize } from '../units.js';
import { resolveUserInLayers } from '../runtime/user.js';
import type { ContainerRecord } from '../store/containers.js';
import type { Engine } from './context.js';
import { initBinary, type StoredConfig } from './create.js';

export interface PreparedStart {
  spec: RuntimeSpec;
  notices: string[];
}

/** The OCI runtime spec for a container, from its record and its image, as of now. */
export function containerSpec(engine: Engine, rec: ContainerRecord, opts: { consoleSize?: { height: number; width: number } } = {}): PreparedStart {
  const { store, mapping } = engine;
  const cfg = rec.config as unknown as StoredConfig;
  if (!store.blobs.has(rec.image)) throw new CtrError(`the image of container ${rec.name} (${rec.image}) is gone from the store; the container cannot start`);
  const image = store.blobs.getJson<ImageConfig>(rec.image);
  const diffIds = [...image.rootfs.diff_ids].reverse();
  let lowerdirs = diffIds.map((d) => store.layers.diffPath(d));
  // The mount options (all lowerdirs, upperdir, workdir) must fit in a page: many layers get short links.
  if (lowerdirs.reduce((n, p) => n + p.length + 1, 0) + 2 * store.containers.path(rec.id).length > 3900) lowerdirs = diffIds.map((d) => store.shortLayerPath(d));
  const notices: string[] = [];
  const runDir = store.containerRunDir(rec.id);
  mkdirSync(join(runDir, 'rootfs'), { recursive: true, mode: 0o755 });
  const dir = store.containers.path(rec.id);
  const user = resolveUserInLayers(lowerdirs, cfg.user ?? image.config?.User ?? undefined, cfg.groupAdd, (path, why) =>
    notices.push(`cannot read ${path} of the image (${why}); user names cannot be resolved`),
  );
  const security = parseSecurityOpts(cfg.securityOpt, { apparmorEnabled: apparmorEnabled() });
  notices.push(...security.notices);
  const host = probeHost({ devices: cfg.privileged && mapping.mode === 'root' });
  const mounts: SpecMount[] = rec.mounts.map((m) => {
    if (m.type === 'tmpfs') return { type: 'tmpfs', target: m.destination, readonly: m.readOnly, options: m.options ?? [] };
    const source = m.type === 'volume' ? store.volumes.dataPath(m.source) : m.source;
    return { type: 'bind', source, target: m.destination, readonly: m.readOnly, propagation: m.options?.[0] as Propagation | undefined };
  });
  const resources = buildResources({ memory: cfg.memory, cpus: cfg.cpus, pidsLimit: cfg.pidsLimit === undefined ? undefined : Number(cfg.pidsLimit) }, host.cpus);
  const spec = buildSpec({
    id: rec.id,
    image: image.config,
    args: cfg.command,
    env: cfg.env,
    user,
    workdir: cfg.workdir,
    hostname: cfg.hostname,
    tty: cfg.tty,
    consoleSize: opts.consoleSize,
    readOnly: cfg.readOnly,
    labels: rec.labels,
    rootfs: { kind: 'overlay', path: join(runDir, 'rootfs'), lowerdirs, upperdir: join(dir, 'upper'), workdir: join(dir, 'work') },
    mapping,
    // Rootless, ctr starts the runtime inside its own user namespace: groups work there.
    userNamespace: 'caller',
    capAdd: cfg.capAdd,
    capDrop: cfg.capDrop,
    privileged: cfg.privileged,
    security,
    mounts,
    etcFiles: { hosts: join(dir, 'userdata/hosts'), hostname: join(dir, 'userdata/hostname'), resolvConf: join(dir, 'userdata/resolv.conf') },
    network: cfg.network,
    init: cfg.init ? initBinary() : undefined,
    ulimits: cfg.ulimits.map((u) => parseUlimit(u)),
    resources,
    shmSize: cfg.shmSize ? parseSize(cfg.shmSize) : undefined,
    cgroupsPath: resources ? `/ctr/${rec.id}` : undefined,
    host,
    warn: (m) => notices.push(m),
  });
  return { spec, notices };
}

export function runtimeFor(cfg: StoredConfig, globalRuntime?: string) {
  return findRuntime(cfg.runtime ?? globalRuntime);
}

