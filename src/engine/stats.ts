import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { CtrError } from '../errors.js';
import type { ContainerRecord } from '../store/containers.js';
import { findContainer, isAlive, reconcile } from './containers.js';
import { openEngine, type Engine, type EngineOptions } from './context.js';
import { findRunning, type RunningContainer } from './running.js';

export interface StatsOptions extends EngineOptions {
  /** Names or ids; none = every running container. */
  containers: string[];
  /** With no names: stopped containers too (their numbers are zero). */
  all?: boolean;
  /** The global --runtime, for containers created without one. */
  runtime?: string;
  /** How long CPU use is measured over (default 1 s, as docker's first sample). */
  intervalMs?: number;
}

/** One container's resource use, as docker stats reports it. */
export interface ContainerStats {
  id: string;
  name: string;
  /** The name or id the user gave (docker's .Container). */
  container: string;
  running: boolean;
  /** CPU time over wall time, in percent of one CPU. */
  cpuPercent: number;
  memUsage: number;
  memLimit: number;
  memPercent: number;
  netRx: number;
  netTx: number;
  blockRead: number;
  blockWrite: number;
  pids: number;
  /** Where the numbers come from: the container's cgroup, or its processes in /proc (rootless, no cgroup). */
  source: 'cgroup' | 'proc' | 'none';
}

interface Sample {
  at: bigint;
  cpuNs: number;
  mem: number;
  memLimit: number;
  pids: number;
  netRx: number;
  netTx: number;
  blockRead: number;
  blockWrite: number;
  source: 'cgroup' | 'proc';
}

interface Target {
  rec: ContainerRecord;
  given: string;
  running?: RunningContainer;
  /** The container's init on the host (runc state), found on the first sample. */
  initPid?: number;
  last?: Sample;
}

const DEFAULT_INTERVAL_MS = 1000;
// Linux reports process CPU times in clock ticks of 1/100 s (USER_HZ) on every architecture we run on.
const NS_PER_TICK = 10_000_000;

/**
 * Samples the resource use of containers again and again, every intervalMs: from each one's
 * cgroup where ctr can read it (root), else from its processes in /proc (rootless without a
 * cgroup: CPU time, resident memory, I/O of every process in its pid namespace).
 */
export async function* streamStats(opts: StatsOptions): AsyncGenerator<ContainerStats[]> {
  const engine = openEngine(opts);
  const targets = await selectTargets(engine, opts);
  const interval = opts.intervalMs ?? DEFAULT_INTERVAL_MS;
  await Promise.all(targets.map((t) => sampleTarget(engine, t)));
  for (;;) {
    await sleep(interval);
    yield await Promise.all(targets.map(async (t) => toStats(t, await sampleTarget(engine, t))));
  }
}

/** `ctr stats --no-stream`: one measurement of each container. */
export async function containerStats(opts: StatsOptions): Promise<ContainerStats[]> {
  for await (const rows of streamStats(opts)) return rows;
  return [];
}

async function selectTargets(engine: Engine, opts: StatsOptions): Promise<Target[]> {
  const list = await reconcile(engine.store);
  const live = (c: ContainerRecord) => (c.state.status === 'running' || c.state.status === 'paused') && isAlive(c);
  const chosen: Target[] =
    opts.containers.length > 0
      ? opts.containers.map((given) => {
          const rec = findContainer(list, given);
          if (!rec) throw new CtrError(`no such container: ${given}`);
          return { rec, given };
        })
      : list.filter((c) => opts.all || live(c)).map((rec) => ({ rec, given: rec.id.slice(0, 12) }));
  for (const t of chosen) {
    if (!live(t.rec)) continue;
    try {
      t.running = await findRunning(engine, t.rec.id, { allowPaused: true, globalRuntime: opts.runtime });
    } catch {
      // It stopped meanwhile: it shows with zeros, as a stopped container does.
    }
  }
  return chosen;
}

/** Takes a new sample of the target and returns it with the one before (undefined when not running). */
async function sampleTarget(engine: Engine, t: Target): Promise<{ before?: Sample; after?: Sample }> {
  const before = t.last;
  let after: Sample | undefined;
  try {
    after = t.running ? await sample(engine, t) : undefined;
  } catch {
    // The container went away between two samples: it shows with zeros.
    after = undefined;
  }
  t.last = after;
  return { before, after };
}

function toStats(t: Target, { before, after }: { before?: Sample; after?: Sample }): ContainerStats {
  const base = { id: t.rec.id, name: t.rec.name, container: t.given };
  if (!after) {
    return { ...base, running: false, cpuPercent: 0, memUsage: 0, memLimit: 0, memPercent: 0, netRx: 0, netTx: 0, blockRead: 0, blockWrite: 0, pids: 0, source: 'none' };
  }
  const wall = before ? Number(after.at - before.at) : 0;
  // A process that exited between the samples takes its CPU time along: never below zero.
  const cpuPercent = before && wall > 0 ? Math.max(0, ((after.cpuNs - before.cpuNs) / wall) * 100) : 0;
  return {
    ...base,
    running: true,
    cpuPercent,
    memUsage: after.mem,
    memLimit: after.memLimit,
    memPercent: after.memLimit > 0 ? (after.mem / after.memLimit) * 100 : 0,
    netRx: after.netRx,
    netTx: after.netTx,
    blockRead: after.blockRead,
    blockWrite: after.blockWrite,
    pids: after.pids,
    source: after.source,
  };
}

async function sample(engine: Engine, t: Target): Promise<Sample> {
  const running = t.running!;
  const id = t.rec.id;
  if (t.initPid === undefined) {
    const state = JSON.parse(await running.runtimeCall(['state', id])) as { pid?: number };
    if (!state.pid) throw new CtrError(`container ${t.rec.name} has no running process`);
    t.initPid = state.pid;
  }
  const pid = t.initPid;
  if (engine.mapping.mode === 'root') {
    const fromCgroup = cgroupSample(JSON.parse(await running.runtimeCall(['events', '--stats', id])) as RuntimeEvent);
    if (fromCgroup) return { ...fromCgroup, ...netDev(pid) };
  }
  return { ...(await procSample(running, pid)), ...netDev(pid) };
}

/** What `runc events --stats` reports (the fields used here). */
interface RuntimeEvent {
  data?: {
    cpu?: { usage?: { total?: number } };
    memory?: { usage?: { usage?: number; limit?: number }; raw?: Record<string, number> };
    pids?: { current?: number };
    blkio?: { ioServiceBytesRecursive?: { op: string; value: number }[] };
  };
}

function cgroupSample(event: RuntimeEvent): Omit<Sample, 'netRx' | 'netTx'> | undefined {
  const d = event.data;
  if (d?.cpu?.usage?.total === undefined || d.memory?.usage?.usage === undefined) return undefined;
  const raw = d.memory.raw ?? {};
  // docker's MEM USAGE: what the cgroup charges minus the page cache it can drop at once.
  const inactiveFile = raw.total_inactive_file ?? raw.inactive_file ?? 0;
  const mem = Math.max(0, d.memory.usage.usage - inactiveFile);
  const host = totalmem();
  const limit = d.memory.usage.limit ?? 0;
  const io = d.blkio?.ioServiceBytesRecursive ?? [];
  const sum = (op: string) => io.filter((e) => e.op.toLowerCase() === op).reduce((n, e) => n + e.value, 0);
  return {
    at: process.hrtime.bigint(),
    cpuNs: d.cpu.usage.total,
    mem,
    memLimit: limit > 0 && limit < host ? limit : host,
    pids: d.pids?.current ?? 0,
    blockRead: sum('read'),
    blockWrite: sum('write'),
    source: 'cgroup',
  };
}

// Lists the processes of the container's pid namespace with their stat, io and status files.
// It runs inside the container's user namespace (rootless), where those of every container
// user may be read; readlink and the files are the host's, nothing of the container runs.
const PROC_SCRIPT = `ns=$(readlink /proc/$1/ns/pid) || exit 1
getconf PAGESIZE
find /proc -mindepth 3 -maxdepth 3 -path '/proc/[0-9]*/ns/pid' -printf '%h %l\n' 2>/dev/null | while read -r dir link; do
  [ "$link" = "$ns" ] || continue
  p=\${dir%/ns}
  echo "@@ \${p#/proc/}"
  cat "$p/stat" "$p/io" 2>/dev/null
done`;

async function procSample(running: RunningContainer, pid: number): Promise<Omit<Sample, 'netRx' | 'netTx'>> {
  const at = process.hrtime.bigint();
  const out = await new Promise<string>((resolve, reject) => {
    const child = running.spawn(['/bin/sh', '-c', PROC_SCRIPT, 'sh', String(pid)]);
    const chunks: Buffer[] = [];
    child.stdout!.on('data', (d: Buffer) => chunks.push(d));
    child.stderr!.resume();
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(chunks).toString()) : reject(new CtrError(`cannot list the processes of the container (exit code ${code})`))));
  });
  let cpuTicks = 0;
  let rssPages = 0;
  let pids = 0;
  let blockRead = 0;
  let blockWrite = 0;
  const pageSize = Number.parseInt(out, 10) || 4096;
  for (const block of out.split('@@ ').slice(1)) {
    pids++;
    const lines = block.split('\n');
    const stat = lines[1] ?? '';
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the name: state is field 3, utime 14, stime 15, rss 24 (man 5 proc).
    cpuTicks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
    rssPages += Number(fields[21] ?? 0);
    for (const line of lines.slice(2)) {
      const [key, value] = line.split(': ');
      if (key === 'read_bytes') blockRead += Number(value);
      else if (key === 'write_bytes') blockWrite += Number(value);
    }
  }
  return {
    at,
    cpuNs: cpuTicks * NS_PER_TICK,
    mem: rssPages * pageSize,
    memLimit: totalmem(),
    pids,
    blockRead,
    blockWrite,
    source: 'proc',
  };
}

/** Bytes received and sent on the container's network interfaces, loopback left out (as docker's NET I/O). */
function netDev(pid: number): { netRx: number; netTx: number } {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/net/dev`, 'utf8');
  } catch {
    return { netRx: 0, netTx: 0 };
  }
  let netRx = 0;
  let netTx = 0;
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon).trim() === 'lo') continue;
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    netRx += f[0] ?? 0;
    netTx += f[8] ?? 0;
  }
  return { netRx, netTx };
}
