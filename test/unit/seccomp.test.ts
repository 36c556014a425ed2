import { describe, expect, it } from 'vitest';
import { DEFAULT_CAPABILITIES } from '../../src/runtime/capabilities.js';
import { defaultSeccompProfile, seccompArchitectures, seccompFromProfile } from '../../src/runtime/seccomp.js';
import type { LinuxSeccomp } from '../../src/runtime/spec.js';

function denied(p: LinuxSeccomp, name: string) {
  return (p.syscalls ?? []).filter((s) => s.names.includes(name));
}

describe('the default seccomp profile', () => {
  const base = defaultSeccompProfile({ arch: 'x64', capabilities: [...DEFAULT_CAPABILITIES] });

  it('allows by default and covers the 64- and 32-bit x86 ABIs', () => {
    expect(base.defaultAction).toBe('SCMP_ACT_ALLOW');
    expect(base.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    expect(defaultSeccompProfile({ arch: 'arm64', capabilities: [] }).architectures).toEqual(['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    expect(() => seccompArchitectures('mips')).toThrow(/seccomp=unconfined/);
  });

  it('refuses with EPERM what docker refuses unprivileged containers', () => {
    for (const name of ['keyctl', 'add_key', 'request_key', 'kexec_load', 'init_module', 'mount', 'umount2', 'pivot_root', 'swapoff', 'reboot', 'settimeofday', 'clock_settime', 'bpf', 'perf_event_open', 'acct', 'open_by_handle_at', 'iopl', 'userfaultfd', 'io_uring_setup']) {
      const rules = denied(base, name);
      expect(rules.length, name).toBeGreaterThan(0);
      expect(rules.every((r) => r.action === 'SCMP_ACT_ERRNO' && r.errnoRet === 1 && !r.args), name).toBe(true);
    }
  });

  it('lets ptrace and process_vm_* through, as docker does on kernels >= 4.8', () => {
    for (const name of ['ptrace', 'process_vm_readv', 'process_vm_writev', 'read', 'clone']) expect(denied(base, name).filter((r) => !r.args)).toEqual([]);
  });

  it('refuses only the CLONE_NEWUSER flag of clone and unshare, and clone3 with ENOSYS', () => {
    const [clone] = denied(base, 'clone');
    expect(clone!.args).toEqual([{ index: 0, value: 0x10000000, valueTwo: 0x10000000, op: 'SCMP_CMP_MASKED_EQ' }]);
    expect(denied(base, 'unshare')[0]!.args![0]!.index).toBe(0);
    expect(denied(base, 'clone3')[0]!.errnoRet).toBe(38);
    const s390 = defaultSeccompProfile({ arch: 's390x', capabilities: [] });
    expect(denied(s390, 'clone')[0]!.args![0]!.index).toBe(1);
  });

  it('refuses personality flags that switch off ASLR, but not the query', () => {
    const rules = denied(base, 'personality');
    expect(rules.some((r) => r.args?.[0]?.value === 0x0040000)).toBe(true);
    expect(rules.every((r) => r.args?.[1]?.op === 'SCMP_CMP_NE' && r.args[1].value === 0xffffffff)).toBe(true);
  });

  it('lifts a refusal when the container holds the governing capability', () => {
    const admin = defaultSeccompProfile({ arch: 'x64', capabilities: [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN', 'CAP_SYS_TIME'] });
    for (const name of ['mount', 'unshare', 'clone', 'clone3', 'bpf', 'settimeofday']) expect(denied(admin, name), name).toEqual([]);
    expect(denied(admin, 'keyctl').length).toBe(1);
    expect(denied(admin, 'reboot').length).toBe(1);
  });
});

describe('seccomp profiles given with --security-opt seccomp=FILE', () => {
  const docker = {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    archMap: [
      { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
      { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
    ],
    syscalls: [
      { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
      { names: ['ptrace'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '4.8' } },
      { names: ['mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', excludes: { caps: ['CAP_SYS_ADMIN'] }, args: [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
      { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64', 'x32'] } },
      { name: 'modify_ldt', action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm64'] } },
    ],
  };

  it('resolves docker archMap, includes and excludes for this host and these capabilities', () => {
    const p = seccompFromProfile(docker, { arch: 'x64', capabilities: ['CAP_CHOWN'], kernel: '6.1.0-13-amd64' });
    expect(p.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(p.defaultErrnoRet).toBe(1);
    expect(p.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    expect(p.syscalls!.map((s) => s.names.join(','))).toEqual(['read,write', 'ptrace', 'clone', 'arch_prctl']);
    const admin = seccompFromProfile(docker, { arch: 'x64', capabilities: ['CAP_SYS_ADMIN'], kernel: '4.4.0' });
    expect(admin.syscalls!.map((s) => s.names.join(','))).toEqual(['read,write', 'mount', 'arch_prctl']);
  });

  it('passes a profile already in the runtime-spec form through', () => {
    const oci = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['chmod'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] };
    expect(seccompFromProfile(oci, { arch: 'x64', capabilities: [] })).toEqual(oci);
  });

  it('says what is wrong with a broken profile', () => {
    expect(() => seccompFromProfile([], { arch: 'x64', capabilities: [] }, 'the file p.json')).toThrow(/p\.json is not a valid seccomp profile: it is not a JSON object/);
    expect(() => seccompFromProfile({ syscalls: [] }, { arch: 'x64', capabilities: [] })).toThrow(/defaultAction is missing/);
    expect(() => seccompFromProfile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ action: 'SCMP_ACT_ERRNO' }] }, { arch: 'x64', capabilities: [] })).toThrow(/syscalls\[0\] names no syscall/);
  });
});
