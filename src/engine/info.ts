import { release } from 'node:os';
import { cgroupMode, findRuntime, runtimeVersion } from '../runtime/oci.js';
import { probeStorage } from '../runtime/storage.js';
import { version } from '../version.js';
import { openEngine, type EngineOptions } from './context.js';

export interface Info {
  version: string;
  node: string;
  host: { os: string; arch: string; kernel: string; cgroups: string };
  store: { root: string; runroot: string; images: number; layers: number; storageMode: string };
  rootless: boolean;
  idMapping: { mode: string; uidMap: unknown[]; gidMap: unknown[]; warning?: string };
  runtime: { name: string; path: string; version: string } | null;
}

async function probeRuntime(): Promise<Info['runtime']> {
  try {
    const rt = findRuntime();
    return { ...rt, version: await runtimeVersion(rt) };
  } catch {
    return null;
  }
}

function describeCgroups(): string {
  const mode = cgroupMode();
  return mode === 'hybrid' ? 'hybrid (v1 + empty v2)' : mode;
}

export async function info(opts: EngineOptions): Promise<Info> {
  const { store, mapping } = openEngine(opts);
  const cgroups = describeCgroups();
  const [runtime, storageMode] = await Promise.all([probeRuntime(), store.withScratchDir((dir) => probeStorage(mapping, dir))]);
  return {
    version,
    node: process.version,
    host: { os: process.platform, arch: process.arch, kernel: release(), cgroups },
    store: {
      root: store.location.root,
      runroot: store.location.runroot,
      images: store.images.list().length,
      layers: store.layers.list().length,
      storageMode,
    },
    rootless: store.location.rootless,
    idMapping: { mode: mapping.mode, uidMap: mapping.uidMap, gidMap: mapping.gidMap, warning: mapping.warning },
    runtime,
  };
}
