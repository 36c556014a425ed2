import { readFileSync } from 'node:fs';
import { CtrError } from '../errors.js';

/** Linux capabilities by number (include/uapi/linux/capability.h). */
export const CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
] as const;

/** Docker's default set for unprivileged containers, in docker's order. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** The highest capability number this kernel knows (/proc/sys/kernel/cap_last_cap). */
export function readLastCap(): number {
  try {
    const n = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
    if (Number.isInteger(n) && n >= 0) return Math.min(n, CAPABILITIES.length - 1);
  } catch {
    // old kernels lack the file: assume what this list knows
  }
  return CAPABILITIES.length - 1;
}

/** The capabilities in a /proc/PID/status text's CapBnd line: no child of ours can hold others. */
export function parseBoundingSet(status: string): string[] | undefined {
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status);
  if (!m) return undefined;
  const mask = BigInt(`0x${m[1]}`);
  return CAPABILITIES.filter((_c, i) => ((mask >> BigInt(i)) & 1n) === 1n);
}

/** This process's bounding set (undefined when /proc does not say). */
export function readBoundingSet(): string[] | undefined {
  try {
    return parseBoundingSet(readFileSync('/proc/self/status', 'utf8'));
  } catch {
    return undefined;
  }
}

/** Every capability the kernel knows. */
export function allCapabilities(lastCap: number): string[] {
  return CAPABILITIES.slice(0, lastCap + 1);
}

/** "net_admin", "CAP_NET_ADMIN", "Net_Admin" -> "CAP_NET_ADMIN"; "all" -> "ALL". */
export function normalizeCapability(name: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === 'ALL') return 'ALL';
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!(CAPABILITIES as readonly string[]).includes(full)) {
    throw new CtrError(`unknown capability "${name}" in --cap-add or --cap-drop: use a name such as NET_ADMIN or CAP_SYS_PTRACE, or ALL`);
  }
  return full;
}

export interface CapabilityOptions {
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  /** From readLastCap(): caps above it do not exist on this kernel. */
  lastCap: number;
  /** ctr's own bounding set: a container cannot get more (root here may lack CAP_SYS_RESOURCE). */
  bounding?: string[];
  /** Told about each capability asked for by name that the bounding set lacks. */
  onUnavailable?: (cap: string) => void;
}

/**
 * The capability set docker gives a container: privileged = every capability; `--cap-add ALL`
 * = all but the dropped ones; `--cap-drop ALL` = only the added ones; else default - drop + add.
 * Capabilities outside ctr's own bounding set are left out (the runtime could not grant them).
 */
export function resolveCapabilities(opts: CapabilityOptions): string[] {
  const all = allCapabilities(opts.lastCap);
  const adds = opts.privileged ? [] : (opts.capAdd ?? []).map(normalizeCapability);
  const drops = opts.privileged ? [] : (opts.capDrop ?? []).map(normalizeCapability);
  let caps: string[];
  if (opts.privileged) caps = all;
  else if (adds.includes('ALL')) caps = all.filter((c) => !drops.includes(c));
  else if (drops.includes('ALL')) caps = adds;
  else caps = [...DEFAULT_CAPABILITIES.filter((c) => !drops.includes(c)), ...adds];
  const known = new Set(all);
  const bounding = opts.bounding ? new Set(opts.bounding) : undefined;
  return [...new Set(caps)].filter((c) => {
    if (!known.has(c)) return false;
    if (!bounding || bounding.has(c)) return true;
    if (adds.includes(c)) opts.onUnavailable?.(c);
    return false;
  });
}
