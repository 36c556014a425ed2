import { endianness } from 'node:os';
import { CtrError } from '../errors.js';
import type { Descriptor, Platform } from './types.js';

const KNOWN_OS = new Set([
  'aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'hurd', 'illumos', 'ios', 'js', 'linux', 'nacl',
  'netbsd', 'openbsd', 'plan9', 'solaris', 'windows', 'zos',
]);
const KNOWN_ARCH = new Set([
  '386', 'amd64', 'amd64p32', 'arm', 'armbe', 'arm64', 'arm64be', 'ppc64', 'ppc64le', 'loong64', 'mips',
  'mipsle', 'mips64', 'mips64le', 'mips64p32', 'mips64p32le', 'ppc', 'riscv', 'riscv64', 's390', 's390x',
  'sparc', 'sparc64', 'wasm',
]);
const OS_RE = /^[A-Za-z0-9_-]+$/;
const COMPONENT_RE = /^[A-Za-z0-9_.-]+$/;

/** The OCI platform for a Node architecture name; split out of hostPlatform so every arch can be tested. */
export function platformForNodeArch(arch: string, armVersion?: string | number, byteOrder = 'LE'): Platform {
  switch (arch) {
    case 'x64':
      return { os: 'linux', architecture: 'amd64' };
    case 'arm64':
      return { os: 'linux', architecture: 'arm64', variant: 'v8' };
    case 'arm': {
      const v = armVersion === undefined || armVersion === '' || armVersion === 'default' ? '7' : String(armVersion);
      return { os: 'linux', architecture: 'arm', variant: `v${v}` };
    }
    case 'ia32':
      return { os: 'linux', architecture: '386' };
    case 'ppc64':
      return { os: 'linux', architecture: byteOrder === 'LE' ? 'ppc64le' : 'ppc64' };
    case 'mipsel':
      return { os: 'linux', architecture: 'mipsle' };
    default:
      // s390x, riscv64, loong64, mips and ppc already use the OCI names.
      return { os: 'linux', architecture: arch };
  }
}

/** The platform of the machine ctr runs on, in OCI terms. */
export function hostPlatform(): Platform {
  const variables = process.config.variables as unknown as Record<string, unknown>;
  const armVersion = variables['arm_version'];
  return platformForNodeArch(
    process.arch,
    typeof armVersion === 'string' || typeof armVersion === 'number' ? armVersion : undefined,
    endianness(),
  );
}

/** containerd's architecture aliases and default variants (aarch64 -> arm64, armhf -> arm/v7, ...). */
export function normalizeArch(architecture: string, variant = ''): { architecture: string; variant: string } {
  let arch = architecture.toLowerCase();
  let v = variant.toLowerCase();
  switch (arch) {
    case 'i386':
      arch = '386';
      v = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      arch = 'amd64';
      if (v === 'v1') v = '';
      break;
    case 'aarch64':
    case 'arm64':
      arch = 'arm64';
      if (v === '8' || v === 'v8' || v === 'v8.0') v = '';
      else if (v === '9' || v === '9.0' || v === 'v9.0') v = 'v9';
      break;
    case 'armhf':
      arch = 'arm';
      v = 'v7';
      break;
    case 'armel':
      arch = 'arm';
      v = 'v6';
      break;
    case 'arm':
      if (v === '' || v === '7') v = 'v7';
      else if (v === '5' || v === '6' || v === '8') v = `v${v}`;
      break;
  }
  return { architecture: arch, variant: v };
}

/** A platform in canonical form: lowercase, aliases resolved, default variants made explicit or dropped. */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os === '' ? 'linux' : p.os.toLowerCase() === 'macos' ? 'darwin' : p.os.toLowerCase();
  const { architecture, variant } = normalizeArch(p.architecture, p.variant);
  const out: Platform = { os, architecture };
  if (variant !== '') out.variant = variant;
  if (p['os.version'] !== undefined) out['os.version'] = p['os.version'];
  return out;
}

/** Parses `os`, `arch`, `os/arch` or `os/arch/variant` (containerd's specifier syntax). */
export function parsePlatform(specifier: string, host: Platform = hostPlatform()): Platform {
  const fail = (why: string) =>
    new CtrError(`invalid platform "${specifier}": ${why}; use os/arch[/variant], e.g. linux/arm64/v8`);
  const parts = specifier.split('/');
  if (parts.length > 3) throw fail('too many components');
  parts.forEach((part, i) => {
    if (!(i === 0 ? OS_RE : COMPONENT_RE).test(part)) throw fail(`"${part}" is not a valid component`);
  });
  const [first = '', second, third] = parts;
  if (parts.length === 1) {
    const os = first.toLowerCase();
    if (KNOWN_OS.has(os)) {
      const p: Platform = { os, architecture: host.architecture };
      if (host.variant !== undefined) p.variant = host.variant;
      return p;
    }
    const { architecture, variant } = normalizeArch(first);
    if (!KNOWN_ARCH.has(architecture)) throw fail('unknown operating system or architecture');
    const p: Platform = { os: host.os, architecture };
    if (variant !== '' && !(architecture === 'arm' && variant === 'v7')) p.variant = variant;
    return p;
  }
  const os = first.toLowerCase() === 'macos' ? 'darwin' : first.toLowerCase();
  if (third === undefined) {
    const { architecture, variant } = normalizeArch(second ?? '');
    const p: Platform = { os, architecture };
    if (variant !== '' && !(architecture === 'arm' && variant === 'v7')) p.variant = variant;
    return p;
  }
  const { architecture, variant } = normalizeArch(second ?? '', third);
  const p: Platform = { os, architecture };
  if (architecture === 'arm64' && variant === '') p.variant = 'v8';
  else if (variant !== '') p.variant = variant;
  return p;
}

/** `os/arch[/variant]`, as docker prints platforms. */
export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

function versionOf(variant: string | undefined): number | undefined {
  const m = /^v?(\d+)$/.exec(variant ?? '');
  return m ? Number(m[1]) : undefined;
}

/** arm64 levels that a variant runs, newest first: v9.x runs v9.0..v9.x and v8.0..v8.(x+5). */
function arm64Levels(variant: string): string[] | undefined {
  const m = /^v(\d+)(?:\.(\d+))?$/.exec(variant);
  if (!m) return undefined;
  const major = Number(m[1]);
  const minor = Number(m[2] ?? 0);
  if (major !== 8 && major !== 9) return undefined;
  const ranges: [number, number][] = major === 9 ? [[9, minor], [8, Math.min(minor + 5, 9)]] : [[8, minor]];
  const out: string[] = [];
  for (const [maj, max] of ranges) for (let n = max; n >= 0; n--) out.push(n === 0 ? `v${maj}` : `v${maj}.${n}`);
  return out;
}

/**
 * The platforms that can run on `want`, best first (containerd's platform vector): arm64 runs arm
 * v8..v5, arm/v7 runs v6 and v5, amd64 runs 386; a plain amd64 request accepts any amd64 level
 * (v2, v3...) after the baseline, as docker does when nothing more specific is asked.
 */
export function compatiblePlatforms(want: Platform): Platform[] {
  const p = normalizePlatform(want);
  const os = p.os;
  const out: Platform[] = [];
  const add = (architecture: string, variant?: string) =>
    out.push(variant ? { os, architecture, variant } : { os, architecture });
  switch (p.architecture) {
    case 'amd64': {
      const level = versionOf(p.variant) ?? 1;
      for (let v = level; v >= 1; v--) add('amd64', v === 1 ? undefined : `v${v}`);
      if (p.variant === undefined) for (let v = 2; v <= 4; v++) add('amd64', `v${v}`);
      add('386');
      break;
    }
    case 'arm': {
      add('arm', p.variant);
      const level = versionOf(p.variant);
      if (level !== undefined) for (let v = level - 1; v >= 5; v--) add('arm', `v${v}`);
      break;
    }
    case 'arm64': {
      const levels = arm64Levels(p.variant ?? 'v8');
      if (!levels) {
        add('arm64', p.variant);
        break;
      }
      for (const level of levels) add('arm64', level === 'v8' ? undefined : level);
      for (let v = 8; v >= 5; v--) add('arm', `v${v}`);
      break;
    }
    default:
      add(p.architecture, p.variant);
  }
  return out;
}

function samePlatform(a: Platform, b: Platform): boolean {
  return a.os === b.os && a.architecture === b.architecture && (a.variant ?? '') === (b.variant ?? '');
}

/** The rank of `candidate` for `want` (0 is best), or -1 when it cannot run there. */
export function platformRank(want: Platform, candidate: Platform): number {
  const c = normalizePlatform(candidate);
  return compatiblePlatforms(want).findIndex((p) => samePlatform(p, c));
}

/** True when an image built for `candidate` runs on `want`. */
export function matchPlatform(want: Platform, candidate: Platform): boolean {
  return platformRank(want, candidate) !== -1;
}

/** Attestations and signatures that buildkit puts in an index beside the real images. */
export function isAttestation(d: Descriptor): boolean {
  if (d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest') return true;
  return d.platform?.os === 'unknown' && d.platform.architecture === 'unknown';
}

/**
 * The best manifest of an index for `want`, or undefined when none runs there. Entries without a
 * platform are taken only from an index where no entry has one (nothing better to go by).
 */
export function selectManifest(descriptors: Descriptor[], want: Platform): Descriptor | undefined {
  const images = descriptors.filter((d) => !isAttestation(d));
  if (images.every((d) => d.platform === undefined)) return images[0];
  let best: Descriptor | undefined;
  let bestRank = Infinity;
  for (const d of images) {
    if (d.platform === undefined) continue;
    const rank = platformRank(want, d.platform);
    if (rank !== -1 && rank < bestRank) {
      best = d;
      bestRank = rank;
    }
  }
  return best;
}
