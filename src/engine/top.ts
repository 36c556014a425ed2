import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { CtrError } from '../errors.js';
import type { ContainerRecord } from '../store/containers.js';
import { findContainer, isAlive, reconcile } from './containers.js';
import { openEngine, type EngineOptions } from './context.js';

/** The pids a process has in each pid namespace it is in, outermost first (NSpid of /proc/PID/status). */
function nsPids(pid: number): number[] | undefined {
  try {
    const m = /^NSpid:\s*(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? m[1]!.trim().split(/\s+/).map(Number) : undefined;
  } catch {
    return undefined;
  }
}

function children(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      out.push(...readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    }
  } catch {
    // gone meanwhile
  }
  return out;
}

/** Whether the container's process (its init, or the runtime that runs it) is alive. */
export function isRunning(c: ContainerRecord): boolean {
  return (c.state.status === 'running' || c.state.status === 'paused') && isAlive(c);
}

/**
 * The host pid of a running container's init: the recorded pid itself when it is pid 1 of its
 * own pid namespace (a monitored or terminal container), else the runtime's child that is (a
 * foreground `runc run`).
 */
export function containerInitPid(c: ContainerRecord): number {
  const own = nsPids(process.pid)?.length ?? 1;
  const isInit = (pid: number) => {
    const ns = nsPids(pid);
    return ns !== undefined && ns.length > own && ns.at(-1) === 1;
  };
  const recorded = c.state.pid;
  if (recorded && isAlive(c)) {
    let level = [recorded];
    for (let depth = 0; depth < 4 && level.length > 0; depth++) {
      const hit = level.find(isInit);
      if (hit !== undefined) return hit;
      level = level.flatMap(children);
    }
  }
  throw new CtrError(`container ${c.name} is not running`);
}

/** The host pids of every process in the container's pid namespace. */
export function containerPids(c: ContainerRecord): Set<number> {
  const init = containerInitPid(c);
  const ns = readlinkSync(`/proc/${init}/ns/pid`);
  const pids = new Set<number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/pid`) === ns) pids.add(Number(entry));
    } catch {
      // gone, or not ours to look at: not in the container
    }
  }
  return pids;
}

export interface TopOptions extends EngineOptions {
  container: string;
  /** ps's options (default -ef); each argument may hold several, split at spaces as docker does. */
  psArgs?: string[];
}

export interface TopResult {
  titles: string[];
  processes: string[][];
}

/** `ctr top`: ps's own listing of the host, cut down to the container's processes. */
export async function containerTop(opts: TopOptions): Promise<TopResult> {
  const { store } = openEngine(opts);
  const c = findContainer(await reconcile(store), opts.container);
  if (!c) throw new CtrError(`no such container: ${opts.container}`);
  if (!isRunning(c)) throw new CtrError(`container ${c.name} is not running`);
  const pids = containerPids(c);
  const args = (opts.psArgs ?? []).flatMap((a) => a.split(' ')).filter(Boolean);
  const psArgs = args.length ? args : ['-ef'];
  const ps = (argv: string[]) =>
    new Promise<string>((resolve, reject) => {
      execFile('ps', argv, { maxBuffer: 64 << 20, timeout: 30_000 }, (err, stdout, stderr) => {
        if (err) reject(new CtrError(`ps ${psArgs.join(' ')} failed: ${String(stderr).trim().split('\n')[0] || err.message}; give ps options it accepts`));
        else resolve(stdout);
      });
    });
  // As docker: ps looks only at the container's pids (-q), unless the options exclude that (forest listings).
  const output = await ps([...psArgs, '-q', [...pids].join(',')]).catch(() => ps(psArgs));
  return parsePs(output, pids);
}

/** ps's table split into cells (the last column, the command, keeps its spaces) and rows of `pids` only. */
export function parsePs(output: string, pids: Set<number>): TopResult {
  const lines = output.split('\n').filter((l) => l.trim() !== '');
  const titles = (lines[0] ?? '').trim().split(/\s+/);
  const pidIndex = titles.indexOf('PID');
  if (pidIndex < 0) throw new CtrError(`ps printed no PID column (its header: ${lines[0] ?? 'none'}); keep pid among the columns you ask for`);
  const processes: string[][] = [];
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (!pids.has(Number(fields[pidIndex]))) continue;
    processes.push([...fields.slice(0, titles.length - 1), fields.slice(titles.length - 1).join(' ')]);
  }
  return { titles, processes };
}
