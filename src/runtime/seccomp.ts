import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { CtrError, errorMessage } from '../errors.js';
import type { LinuxSeccomp, LinuxSeccompArg, LinuxSyscall } from './spec.js';

const EPERM = 1;
const ENOSYS = 38;
const CLONE_NEWUSER = 0x10000000;
const AF_VSOCK = 40;
const PERSONALITY_QUERY = 0xffffffff;
/** personality() flags that weaken the process (ASLR off, executable data, page zero mapped). */
const UNSAFE_PERSONALITY = [0x0040000, 0x0100000, 0x0200000, 0x0400000];

/** Seccomp architectures for a CPU, as Node (`process.arch`) or Go/OCI name it. */
const ARCHES: Record<string, string[]> = {
  x64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  amd64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  arm64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
  ia32: ['SCMP_ARCH_X86'],
  '386': ['SCMP_ARCH_X86'],
  arm: ['SCMP_ARCH_ARM'],
  riscv64: ['SCMP_ARCH_RISCV64'],
  s390x: ['SCMP_ARCH_S390X', 'SCMP_ARCH_S390'],
  ppc64: ['SCMP_ARCH_PPC64LE'],
  ppc64le: ['SCMP_ARCH_PPC64LE'],
  loong64: ['SCMP_ARCH_LOONGARCH64'],
};

/** Go's GOARCH for a Node arch: the names docker profiles use in includes/excludes.arches. */
const GOARCH: Record<string, string> = { x64: 'amd64', ia32: '386', ppc64: 'ppc64le', loong64: 'loong64' };

export function seccompArchitectures(arch: string): string[] {
  const out = ARCHES[arch];
  if (!out) throw new CtrError(`no seccomp architecture is known for CPU "${arch}": run with --security-opt seccomp=unconfined or give a profile`);
  return out;
}

/**
 * Syscalls the default profile refuses, and the capability that lifts each refusal (docker's
 * rule: a process granted the capability may use the syscall it governs).
 */
const GATED: { caps: string[]; names: string[] }[] = [
  {
    caps: ['CAP_SYS_ADMIN'],
    names: [
      'mount', 'umount', 'umount2', 'pivot_root', 'swapon', 'swapoff', 'setns', 'quotactl', 'quotactl_fd',
      'name_to_handle_at', 'fanotify_init', 'open_tree', 'move_mount', 'fsopen', 'fsconfig', 'fsmount', 'fspick',
      'mount_setattr', 'lookup_dcookie',
    ],
  },
  { caps: ['CAP_SYS_ADMIN', 'CAP_SYSLOG'], names: ['syslog'] },
  { caps: ['CAP_SYS_ADMIN', 'CAP_BPF'], names: ['bpf'] },
  { caps: ['CAP_SYS_ADMIN', 'CAP_PERFMON'], names: ['perf_event_open'] },
  { caps: ['CAP_SYS_MODULE'], names: ['init_module', 'finit_module', 'delete_module'] },
  { caps: ['CAP_SYS_BOOT'], names: ['reboot', 'kexec_load', 'kexec_file_load'] },
  { caps: ['CAP_SYS_RAWIO'], names: ['iopl', 'ioperm'] },
  {
    caps: ['CAP_SYS_TIME'],
    names: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64', 'adjtimex', 'clock_adjtime', 'clock_adjtime64'],
  },
  { caps: ['CAP_SYS_PACCT'], names: ['acct'] },
  { caps: ['CAP_SYS_PTRACE'], names: ['kcmp', 'pidfd_getfd', 'process_madvise', 'userfaultfd'] },
  { caps: ['CAP_SYS_TTY_CONFIG'], names: ['vhangup'] },
  { caps: ['CAP_DAC_READ_SEARCH'], names: ['open_by_handle_at'] },
];

/** Refused whatever the capabilities: the kernel keyring is not namespaced, the rest is obsolete or io_uring. */
const ALWAYS_DENIED = [
  'keyctl', 'add_key', 'request_key', 'uselib', 'nfsservctl', 'vm86', 'vm86old', 'get_kernel_syms', 'query_module',
  'create_module', '_sysctl', 'io_uring_setup', 'io_uring_enter', 'io_uring_register',
];

function deny(names: string[], args?: LinuxSeccompArg[], errno = EPERM): LinuxSyscall {
  return { names, action: 'SCMP_ACT_ERRNO', errnoRet: errno, ...(args ? { args } : {}) };
}

export interface SeccompContext {
  /** process.arch (or a Go arch name). */
  arch: string;
  /** The container's bounding capabilities. */
  capabilities: string[];
  /** The kernel release (os.release()), for docker profiles' minKernel. */
  kernel?: string;
}

/**
 * ctr's own default profile: everything is allowed except what docker refuses unprivileged
 * containers (kernel modules, keyrings, clocks, mounts, new user namespaces, ...), each
 * refusal lifted by the capability that governs it.
 */
export function defaultSeccompProfile(ctx: SeccompContext): LinuxSeccomp {
  const has = (caps: string[]) => caps.some((c) => ctx.capabilities.includes(c));
  const syscalls: LinuxSyscall[] = [deny(ALWAYS_DENIED)];
  for (const g of GATED) if (!has(g.caps)) syscalls.push(deny(g.names));
  if (!has(['CAP_SYS_ADMIN'])) {
    const flagsArg = ctx.arch.startsWith('s390') ? 1 : 0;
    syscalls.push(deny(['unshare'], [{ index: 0, value: CLONE_NEWUSER, valueTwo: CLONE_NEWUSER, op: 'SCMP_CMP_MASKED_EQ' }]));
    syscalls.push(deny(['clone'], [{ index: flagsArg, value: CLONE_NEWUSER, valueTwo: CLONE_NEWUSER, op: 'SCMP_CMP_MASKED_EQ' }]));
    // clone3 passes its flags in memory seccomp cannot read: ENOSYS makes libc fall back to clone.
    syscalls.push(deny(['clone3'], undefined, ENOSYS));
  }
  for (const flag of UNSAFE_PERSONALITY) {
    syscalls.push(
      deny(
        ['personality'],
        [
          { index: 0, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' },
          { index: 0, value: PERSONALITY_QUERY, op: 'SCMP_CMP_NE' },
        ],
      ),
    );
  }
  syscalls.push(deny(['socket'], [{ index: 0, value: AF_VSOCK, op: 'SCMP_CMP_EQ' }]));
  return { defaultAction: 'SCMP_ACT_ALLOW', architectures: seccompArchitectures(ctx.arch), syscalls };
}

interface DockerFilter {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

interface DockerSyscall extends Partial<LinuxSyscall> {
  name?: string;
  includes?: DockerFilter;
  excludes?: DockerFilter;
  comment?: string;
}

interface DockerProfile {
  defaultAction?: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures?: string[] }[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: DockerSyscall[];
}

function kernelAtLeast(kernel: string, min: string): boolean {
  const a = kernel.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  const b = min.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return true;
}

/**
 * A profile in docker's format (archMap, includes/excludes by capability, arch and kernel) or
 * in the runtime spec's format, made concrete for this host and this container's capabilities.
 */
export function seccompFromProfile(profile: unknown, ctx: SeccompContext, source = 'the seccomp profile'): LinuxSeccomp {
  const bad = (why: string) => new CtrError(`${source} is not a valid seccomp profile: ${why}; fix it or use --security-opt seccomp=unconfined`);
  if (typeof profile !== 'object' || profile === null || Array.isArray(profile)) throw bad('it is not a JSON object');
  const p = profile as DockerProfile;
  if (typeof p.defaultAction !== 'string' || p.defaultAction === '') throw bad('defaultAction is missing');
  if (p.architectures?.length && p.archMap?.length) throw bad('it has both architectures and archMap');
  if (p.syscalls !== undefined && !Array.isArray(p.syscalls)) throw bad('syscalls is not a list');
  const goArch = GOARCH[ctx.arch] ?? ctx.arch;
  const nativeArch = seccompArchitectures(ctx.arch)[0]!;
  let architectures = p.architectures ?? [];
  if (p.archMap?.length) {
    const entry = p.archMap.find((a) => a.architecture === nativeArch);
    architectures = entry ? [entry.architecture, ...(entry.subArchitectures ?? [])] : [];
  }
  const kernel = ctx.kernel ?? release();
  const has = (caps: string[]) => caps.every((c) => ctx.capabilities.includes(c));
  const syscalls: LinuxSyscall[] = [];
  for (const [i, call] of (p.syscalls ?? []).entries()) {
    const names = call.names?.length ? call.names : call.name ? [call.name] : [];
    if (names.length === 0) throw bad(`syscalls[${i}] names no syscall`);
    if (typeof call.action !== 'string') throw bad(`syscalls[${i}] has no action`);
    const inc = call.includes ?? {};
    const exc = call.excludes ?? {};
    if (inc.arches?.length && !inc.arches.includes(goArch)) continue;
    if (inc.caps?.length && !has(inc.caps)) continue;
    if (inc.minKernel && !kernelAtLeast(kernel, inc.minKernel)) continue;
    if (exc.arches?.includes(goArch)) continue;
    if (exc.caps?.some((c) => ctx.capabilities.includes(c))) continue;
    if (exc.minKernel && kernelAtLeast(kernel, exc.minKernel)) continue;
    syscalls.push({
      names,
      action: call.action,
      ...(call.errnoRet !== undefined ? { errnoRet: call.errnoRet } : {}),
      ...(call.args?.length ? { args: call.args } : {}),
    });
  }
  return {
    defaultAction: p.defaultAction,
    ...(p.defaultErrnoRet !== undefined ? { defaultErrnoRet: p.defaultErrnoRet } : {}),
    ...(architectures.length ? { architectures } : {}),
    ...(p.flags?.length ? { flags: p.flags } : {}),
    ...(p.listenerPath ? { listenerPath: p.listenerPath } : {}),
    syscalls,
  };
}

/** `--security-opt seccomp=PATH`: the user's profile file, read and made concrete. */
export function loadSeccompProfile(path: string, ctx: SeccompContext): LinuxSeccomp {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CtrError(`cannot read the seccomp profile ${path}: ${errorMessage(err)}; check the path given to --security-opt seccomp=`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CtrError(`the seccomp profile ${path} is not valid JSON: ${errorMessage(err)}`);
  }
  return seccompFromProfile(json, ctx, `the file ${path}`);
}
