import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import type { IdMapping } from './idmap.js';

/**
 * argv that runs `argv` in the user namespace a running container lives in (rootless: the one
 * ctr or its monitor made for it; its owner may join it and gets full capabilities there, which
 * the runtime needs to signal, exec into or pause processes of subordinate ids). As root: argv.
 */
export function inContainerUserNamespace(mapping: IdMapping, pid: number, argv: string[]): string[] {
  if (mapping.mode === 'root') return argv;
  return ['nsenter', '--user', '--preserve-credentials', '-t', String(pid), '--', ...argv];
}

/** Spawns argv in the container's user namespace (see inContainerUserNamespace). */
export function spawnInContainerUserNamespace(mapping: IdMapping, pid: number, argv: string[], options: SpawnOptions = {}): ChildProcess {
  const full = inContainerUserNamespace(mapping, pid, argv);
  return spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], ...options });
}
