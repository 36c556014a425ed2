import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { probeStorage } from '../runtime/storage.js';
import { version } from '../version.js';
import { openEngine, type EngineOptions } from './context.js';

const run = promisify(execFile);

export interface Info {
  version: string;
  node: string;
  host: { os: string; arch: string; kernel: string; cgroups: string };
  store: { root: string; runroot: string; images: number; layers: number; storageMode: string };
  rootless: boolean;
  idMapping: { mode: string; uidMap: unknown[]; gidMap: unknown[]; warning?: string };
  runtime: { name: string; path: string; version: string } | null;
}

async function firstLine(cmd: string, args: string[]): Promise<string | null> {
  try {
    const { stdout } = await run(cmd, args, { timeout: 5000 });
    return stdout.split('\n')[0]!.trim();
  } catch {
    return null;
  }
}

/** crun first, then runc; crun refuses to run at all on hybrid cgroups, so it is skipped there. */
async function probeRuntime(cgroups: string): Promise<Info['runtime']> {
  const names = cgroups.startsWith('hybrid') ? ['runc'] : ['crun', 'runc'];
  for (const name of names) {
    for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
      const path = `${dir}/${name}`;
      const line = await firstLine(path, ['--version']);
      if (line) return { name, path, version: line.replace(/^\S+ version /, '') };
    }
  }
  return null;
}

async function cgroupMode(): Promise<string> {
  const line = await firstLine('stat', ['-fc', '%T', '/sys/fs/cgroup']);
  if (line === 'cgroup2fs') return 'v2';
  const unified = await firstLine('stat', ['-fc', '%T', '/sys/fs/cgroup/unified']);
  return unified === 'cgroup2fs' ? 'hybrid (v1 + empty v2)' : 'v1';
}

export async function info(opts: EngineOptions): Promise<Info> {
  const { store, mapping } = openEngine(opts);
  const [kernel, cgroups] = await Promise.all([firstLine('uname', ['-r']), cgroupMode()]);
  const [runtime, storageMode] = await Promise.all([probeRuntime(cgroups), store.withScratchDir((dir) => probeStorage(mapping, dir))]);
  return {
    version,
    node: process.version,
    host: { os: process.platform, arch: process.arch, kernel: kernel ?? '', cgroups },
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
