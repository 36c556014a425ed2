import { CtrError } from '../errors.js';
import { readRootfsFile } from './rootfs-file.js';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** The identity the container's process runs as. */
export interface ExecUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** The part of additionalGids the user asked for with --group-add. */
  groupAddGids?: number[];
  /** From /etc/passwd; "/" when the user has no entry (docker's default). */
  home: string;
  /** The passwd name when the user was found there. */
  name?: string;
}

const MAX_ID = 2 ** 31 - 1;
const NUMERIC = /^[+-]?\d+$/;

function lines(text: string): string[][] {
  const out: string[][] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    out.push(line.split(':'));
  }
  return out;
}

function id(text: string | undefined): number | undefined {
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;
}

/** /etc/passwd lines `name:password:uid:gid:gecos:home:shell`; malformed lines are skipped. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const f of lines(text)) {
    const uid = id(f[2]);
    const gid = id(f[3]);
    if (uid === undefined || gid === undefined) continue;
    out.push({ name: f[0]!, uid, gid, home: f[5] ?? '', shell: f[6] ?? '' });
  }
  return out;
}

/** /etc/group lines `name:password:gid:member,member`; malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const f of lines(text)) {
    const gid = id(f[2]);
    if (gid === undefined) continue;
    out.push({ name: f[0]!, gid, members: (f[3] ?? '').split(',').filter((m) => m !== '') });
  }
  return out;
}

function numericId(text: string, what: 'user' | 'group'): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_ID) {
    throw new CtrError(`${what} id ${text} is out of range: use a number from 0 to ${MAX_ID}`);
  }
  return n;
}

export interface UserFiles {
  /** The container's /etc/passwd, or null when it has none (or it could not be read). */
  passwd: string | null;
  group: string | null;
}

/**
 * Docker's rules for `-u user[:group]` and `--group-add`: a numeric id need not exist in the
 * image, a name must; without a group the user's primary group applies and every group that
 * lists the user is added; with an explicit group no supplementary groups are taken.
 */
export function resolveUser(spec: string | undefined, files: UserFiles, groupAdd: string[] = []): ExecUser {
  const text = spec ?? '';
  const colon = text.indexOf(':');
  const userArg = colon === -1 ? text : text.slice(0, colon);
  const groupArg = colon === -1 ? '' : text.slice(colon + 1);
  const users = parsePasswd(files.passwd ?? '');
  const groups = parseGroup(files.group ?? '');
  const out: ExecUser = { uid: 0, gid: 0, additionalGids: [], home: '/' };

  const userNumeric = NUMERIC.test(userArg);
  const uidArg = userNumeric ? numericId(userArg, 'user') : undefined;
  const match = users.find((u) => (userArg === '' ? u.uid === 0 : uidArg !== undefined ? u.uid === uidArg : u.name === userArg));
  if (match) {
    out.uid = match.uid;
    out.gid = match.gid;
    out.home = match.home || '/';
    out.name = match.name;
  } else if (userArg !== '') {
    if (uidArg === undefined) {
      const where = files.passwd === null ? 'the image has no readable /etc/passwd' : 'no matching entries in passwd file';
      throw new CtrError(`unable to find user ${userArg}: ${where}; use a user the image defines or a numeric uid[:gid]`);
    }
    out.uid = uidArg;
  }

  if (groupArg !== '') {
    const gidArg = NUMERIC.test(groupArg) ? numericId(groupArg, 'group') : undefined;
    const g = groups.find((e) => (gidArg !== undefined ? e.gid === gidArg : e.name === groupArg));
    if (g) out.gid = g.gid;
    else if (gidArg !== undefined) out.gid = gidArg;
    else {
      const where = files.group === null ? 'the image has no readable /etc/group' : 'no matching entries in group file';
      throw new CtrError(`unable to find group ${groupArg}: ${where}; use a group the image defines or a numeric gid`);
    }
  } else if (match) {
    out.additionalGids = groups.filter((g) => g.members.includes(match.name)).map((g) => g.gid);
  }

  for (const want of groupAdd) {
    const g = groups.find((e) => e.name === want || String(e.gid) === want);
    let gid: number;
    if (g) gid = g.gid;
    else if (NUMERIC.test(want)) gid = numericId(want, 'group');
    else {
      throw new CtrError(`unable to find group ${want} given to --group-add: no matching entries in group file; use a group the image defines or a numeric gid`);
    }
    out.additionalGids.push(gid);
    (out.groupAddGids ??= []).push(gid);
  }
  out.additionalGids = [...new Set(out.additionalGids)];
  return out;
}

/** The user's passwd and group files read through the image's layers (top layer first). */
export function readUserFiles(lowerdirsTopFirst: string[], onUnreadable?: (path: string, why: string) => void): UserFiles {
  return {
    passwd: readRootfsFile(lowerdirsTopFirst, '/etc/passwd', { onUnreadable })?.toString('utf8') ?? null,
    group: readRootfsFile(lowerdirsTopFirst, '/etc/group', { onUnreadable })?.toString('utf8') ?? null,
  };
}

/** `-u` resolved against the image's layers: what the engine calls before buildSpec. */
export function resolveUserInLayers(
  lowerdirsTopFirst: string[],
  spec: string | undefined,
  groupAdd: string[] = [],
  onUnreadable?: (path: string, why: string) => void,
): ExecUser {
  return resolveUser(spec, readUserFiles(lowerdirsTopFirst, onUnreadable), groupAdd);
}
