import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';

/** One line of an OCI runtime-spec uidMappings/gidMappings list. */
export interface IdMapEntry {
  containerID: number;
  hostID: number;
  size: number;
}

/**
 * How container ids map to host ids for the current user: 'root' needs no namespace;
 * 'rootless' = container 0 is the user, 1..N the /etc/subuid range (podman's default);
 * 'single' = only the user's own id is mapped (no subordinate ids), with a warning.
 */
export interface IdMapping {
  mode: 'root' | 'rootless' | 'single';
  uid: number;
  gid: number;
  /** The user's login name, for messages ("usermod ... NAME"). */
  user?: string;
  uidMap: IdMapEntry[];
  gidMap: IdMapEntry[];
  warning?: string;
}

export interface SubIdRange {
  start: number;
  count: number;
}

/** Ranges for a user in /etc/subuid or /etc/subgid text: lines `name:start:count` or `uid:start:count`. */
export function parseSubIds(text: string, user: string | undefined, uid: number): SubIdRange[] {
  const out: SubIdRange[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(':');
    if (fields.length !== 3) continue;
    const [who, startText, countText] = fields as [string, string, string];
    if (who !== user && who !== String(uid)) continue;
    if (!/^\d+$/.test(startText) || !/^\d+$/.test(countText)) continue;
    const range = { start: Number(startText), count: Number(countText) };
    if (range.count === 0 || out.some((r) => r.start === range.start && r.count === range.count)) continue;
    out.push(range);
  }
  return out;
}

/** Container 0 = the user's own id, then the subordinate ranges one after another. */
export function buildIdMap(ownId: number, ranges: SubIdRange[]): IdMapEntry[] {
  const map: IdMapEntry[] = [{ containerID: 0, hostID: ownId, size: 1 }];
  let next = 1;
  for (const r of ranges) {
    map.push({ containerID: next, hostID: r.start, size: r.count });
    next += r.count;
  }
  return map;
}

/** The highest container id a map covers (0 when it maps only the user). */
export function maxContainerId(map: IdMapEntry[]): number {
  let max = 0;
  for (const e of map) max = Math.max(max, e.containerID + e.size - 1);
  return max;
}

export function singleIdMapping(uid: number, gid: number, user?: string, warning?: string): IdMapping {
  return {
    mode: 'single',
    uid,
    gid,
    user,
    uidMap: [{ containerID: 0, hostID: uid, size: 1 }],
    gidMap: [{ containerID: 0, hostID: gid, size: 1 }],
    warning,
  };
}

export interface IdMappingInputs {
  uid: number;
  gid: number;
  user?: string;
  subuid: string;
  subgid: string;
  /** newuidmap and newgidmap are installed. */
  haveMapTools: boolean;
}

export function computeIdMapping(inp: IdMappingInputs): IdMapping {
  const { uid, gid, user } = inp;
  if (uid === 0) return { mode: 'root', uid, gid, user, uidMap: [], gidMap: [] };
  const name = user ?? String(uid);
  const subuids = parseSubIds(inp.subuid, user, uid);
  const subgids = parseSubIds(inp.subgid, user, uid);
  if (subuids.length === 0 || subgids.length === 0) {
    const missing = subuids.length === 0 ? '/etc/subuid' : '/etc/subgid';
    return singleIdMapping(
      uid,
      gid,
      user,
      `${name} has no range in ${missing}, so every file in images and containers is owned by ${name} ` +
        `(single-id mode); to keep their real owners, run as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${name}`,
    );
  }
  if (!inp.haveMapTools) {
    return singleIdMapping(
      uid,
      gid,
      user,
      `newuidmap and newgidmap were not found, so every file in images and containers is owned by ${name} (single-id mode); install the uidmap package to keep their real owners`,
    );
  }
  return { mode: 'rootless', uid, gid, user, uidMap: buildIdMap(uid, subuids), gidMap: buildIdMap(gid, subgids) };
}

const TOOL_DIRS = ['/usr/bin', '/usr/sbin', '/bin', '/sbin', '/usr/local/bin', '/usr/local/sbin'];

const found = new Map<string, string>();

/**
 * The absolute path of an executable on PATH (or the usual system directories). What was found
 * is remembered for this process: a rootless `run` asks for newuidmap, newgidmap, nsenter and
 * the runtime, each a walk along PATH.
 */
export function findExecutable(name: string): string | undefined {
  const path = process.env.PATH ?? '';
  const key = `${path}\0${name}`;
  const known = found.get(key);
  if (known) return known;
  const dirs = [...path.split(':').filter((d) => d.startsWith('/')), ...TOOL_DIRS];
  for (const dir of dirs) {
    const file = join(dir, name);
    // existsSync throws nothing: a failed accessSync builds an error each time (~0.1 ms).
    if (!existsSync(file)) continue;
    try {
      accessSync(file, constants.X_OK);
      found.set(key, file);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

let cached: IdMapping | undefined;

/** The mapping for the user running ctr, from /etc/subuid, /etc/subgid and the tools installed. */
export function detectIdMapping(): IdMapping {
  if (cached) return cached;
  const uid = process.getuid!();
  const gid = process.getgid!();
  let user: string | undefined;
  try {
    user = userInfo().username;
  } catch {
    user = process.env.USER || undefined;
  }
  if (uid === 0) return (cached = computeIdMapping({ uid, gid, user, subuid: '', subgid: '', haveMapTools: true }));
  cached = computeIdMapping({
    uid,
    gid,
    user,
    subuid: readOrEmpty('/etc/subuid'),
    subgid: readOrEmpty('/etc/subgid'),
    haveMapTools: findExecutable('newuidmap') !== undefined && findExecutable('newgidmap') !== undefined,
  });
  return cached;
}
