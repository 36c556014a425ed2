import { describe, expect, it } from 'vitest';
import { DEFAULT_CAPABILITIES, normalizeCapability, parseBoundingSet, resolveCapabilities } from '../../src/runtime/capabilities.js';
import type { IdMapping } from '../../src/runtime/idmap.js';
import {
  buildEnv,
  buildResources,
  buildSpec,
  expandEnvFlags,
  imageVolumeTargets,
  parseEnvFile,
  parseMountFlag,
  parseProcLimits,
  parseSecurityOpts,
  parseSignal,
  parseTmpfsFlag,
  parseUlimit,
  parseVolumeFlag,
  resolveCommand,
  serializeSpec,
  type HostFacts,
  type SpecInput,
} from '../../src/runtime/spec.js';

const ID = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
const ROOT: IdMapping = { mode: 'root', uid: 0, gid: 0, uidMap: [], gidMap: [] };
const ROOTLESS: IdMapping = {
  mode: 'rootless',
  uid: 1001,
  gid: 1001,
  uidMap: [{ containerID: 0, hostID: 1001, size: 1 }, { containerID: 1, hostID: 100000, size: 65536 }],
  gidMap: [{ containerID: 0, hostID: 1001, size: 1 }, { containerID: 1, hostID: 100000, size: 65536 }],
};
const SINGLE: IdMapping = { ...ROOTLESS, mode: 'single', uidMap: [ROOTLESS.uidMap[0]!], gidMap: [ROOTLESS.gidMap[0]!] };
const HOST: HostFacts = {
  arch: 'x64',
  lastCap: 40,
  rlimits: { RLIMIT_NOFILE: { soft: 20000, hard: 20000 }, RLIMIT_NPROC: { soft: 500, hard: 1000 }, RLIMIT_CORE: { soft: 0, hard: Infinity } },
  canRaiseRlimits: false,
  cpus: 2,
  kernel: '6.18.0',
  hostname: 'buildhost',
  cgroupNamespace: false,
};

function input(extra: Partial<SpecInput> = {}): SpecInput {
  return {
    id: ID,
    image: { Env: ['PATH=/usr/bin:/bin', 'LANG=C.UTF-8'], Cmd: ['sh'], WorkingDir: '/srv' },
    args: ['sh'],
    user: { uid: 0, gid: 0, additionalGids: [], home: '/root' },
    rootfs: { kind: 'overlay', path: '/b/rootfs', lowerdirs: ['/l/top', '/l/base'], upperdir: '/c/upper', workdir: '/c/work' },
    mapping: ROOTLESS,
    host: HOST,
    ...extra,
  };
}

describe('the command docker would run', () => {
  const image = { Entrypoint: ['/entry.sh'], Cmd: ['serve', '--port', '80'] };
  it.each([
    ['image ENTRYPOINT + CMD', image, {}, ['/entry.sh', 'serve', '--port', '80']],
    ['arguments replace CMD only', image, { args: ['debug'] }, ['/entry.sh', 'debug']],
    ['--entrypoint drops the image CMD', image, { entrypoint: '/bin/sh' }, ['/bin/sh']],
    ['--entrypoint with arguments', image, { entrypoint: '/bin/sh', args: ['-c', 'ls'] }, ['/bin/sh', '-c', 'ls']],
    ["--entrypoint '' clears it and takes the arguments", image, { entrypoint: '', args: ['ls', '-l'] }, ['ls', '-l']],
    ['a JSON --entrypoint is an argv', image, { entrypoint: '["/bin/sh","-c"]', args: ['id'] }, ['/bin/sh', '-c', 'id']],
    ['CMD only', { Cmd: ['sh'] }, {}, ['sh']],
    ['null ENTRYPOINT', { Entrypoint: null, Cmd: ['top'] }, {}, ['top']],
  ])('%s', (_name, img, opts, want) => {
    expect(resolveCommand(img, { args: [], ...opts })).toEqual(want);
  });

  it('refuses to run nothing, with docker message', () => {
    expect(() => resolveCommand({}, { args: [] })).toThrow(/^no command specified/);
    expect(() => resolveCommand(image, { entrypoint: '', args: [] })).toThrow(/^no command specified/);
    expect(() => resolveCommand(undefined, { args: [] })).toThrow(/^no command specified/);
  });
});

describe('the environment', () => {
  it('starts with PATH, HOSTNAME and TERM, then the user values win over the image', () => {
    expect(buildEnv({ image: ['A=image', 'B=image'], user: ['B=user', 'C=user'], hostname: 'h', tty: true, home: '/root' })).toEqual([
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'HOSTNAME=h',
      'TERM=xterm',
      'B=user',
      'C=user',
      'A=image',
      'HOME=/root',
    ]);
  });

  it('lets the image replace PATH in place and a bare -e NAME remove NAME', () => {
    const env = buildEnv({ image: ['PATH=/bin', 'SECRET=1', 'HOME=/data'], user: ['SECRET', 'TERM=dumb'], hostname: 'h', tty: true, home: '/root' });
    expect(env).toEqual(['PATH=/bin', 'HOSTNAME=h', 'TERM=dumb', 'HOME=/data']);
  });

  it('takes -e NAME from ctr environment when it is set there', () => {
    const lookup = (n: string) => ({ FOO: 'from-host' })[n];
    expect(expandEnvFlags(['FOO', 'BAR', 'X=1=2', 'E='], lookup)).toEqual(['FOO=from-host', 'BAR', 'X=1=2', 'E=']);
    expect(() => expandEnvFlags(['=x'], lookup)).toThrow(/name is empty/);
  });

  it('reads --env-file with docker rules', () => {
    const text = '\uFEFF# comment\n\n  A=1\nB= spaced value \nQ="quoted"\nFROMHOST\nMISSING\nEMPTY=\n\tTAB=x\n';
    expect(parseEnvFile(text, (n) => (n === 'FROMHOST' ? 'h' : undefined))).toEqual(['A=1', 'B= spaced value ', 'Q="quoted"', 'FROMHOST=h', 'EMPTY=', 'TAB=x']);
    expect(() => parseEnvFile('BAD NAME=1\n', undefined, 'vars.env')).toThrow("vars.env line 1: variable 'BAD NAME' contains whitespaces");
    expect(() => parseEnvFile('=1\n')).toThrow(/no variable name/);
  });
});

describe('signals', () => {
  it.each([
    ['SIGTERM', 15],
    ['TERM', 15],
    ['term', 15],
    ['15', 15],
    ['SIGKILL', 9],
    ['SIGRTMIN+3', 37],
    ['RTMAX-1', 63],
    ['SIGWINCH', 28],
  ])('%s = %i', (raw, n) => expect(parseSignal(raw)).toBe(n));
  it.each(['0', 'SIGNOPE', '', '65', 'RTMIN+40'])('refuses %j', (raw) => expect(() => parseSignal(raw)).toThrow(/invalid signal/));
});

describe('-v, --mount and --tmpfs', () => {
  it.each([
    ['/data', { type: 'volume', target: '/data', readonly: false, nocopy: false }],
    ['cache:/var/cache', { type: 'volume', name: 'cache', target: '/var/cache', readonly: false, nocopy: false }],
    ['cache:/var/cache:ro,nocopy', { type: 'volume', name: 'cache', target: '/var/cache', readonly: true, nocopy: true }],
    ['/src:/src', { type: 'bind', source: '/src', target: '/src', readonly: false, recursive: true, createHostPath: true }],
    ['/src/:/src/:ro,Z', { type: 'bind', source: '/src/', target: '/src', readonly: true, createHostPath: true }],
    ['/src:/src:rshared', { type: 'bind', propagation: 'rshared' }],
    ['./here:/w', { type: 'bind', source: '/home/u/here', target: '/w' }],
  ])('-v %s', (spec, want) => {
    expect(parseVolumeFlag(spec, '/home/u')).toMatchObject(want);
  });

  it.each([
    ['', /invalid volume specification: ''/],
    ['/data:rw', /invalid volume specification/],
    ['/a:/b:rw,ro', /invalid mode: rw,ro/],
    ['/a:/b:bogus', /invalid mode: bogus/],
    ['a:b:c:d', /invalid volume specification/],
    ['/a:relative', /mount path must be absolute/],
    ['/a:/', /destination can't be '\/'/],
    ['x:/data', /includes invalid characters for a local volume name/],
    ['na$me:/data', /includes invalid characters/],
    ['vol:/data:rshared', /propagation mode applies to bind mounts/],
  ])('-v %j is refused', (spec, err) => {
    expect(() => parseVolumeFlag(spec, '/')).toThrow(err);
  });

  it('parses --mount fields as docker does', () => {
    expect(parseMountFlag('type=bind,src=/host,dst=/ctr,readonly')).toEqual({ type: 'bind', source: '/host', target: '/ctr', readonly: true, recursive: true, createHostPath: false });
    expect(parseMountFlag('type=bind,source=/h,target=/c,ro=false,bind-propagation=rslave,bind-nonrecursive')).toMatchObject({ readonly: false, propagation: 'rslave', recursive: false });
    expect(parseMountFlag('source=data,target=/data,volume-nocopy,volume-label=a=b,volume-opt=o=v')).toEqual({
      type: 'volume',
      name: 'data',
      target: '/data',
      readonly: false,
      nocopy: true,
      labels: { a: 'b' },
      driverOptions: { o: 'v' },
    });
    expect(parseMountFlag('target=/anon')).toEqual({ type: 'volume', target: '/anon', readonly: false, nocopy: false });
    expect(parseMountFlag('type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1770')).toEqual({ type: 'tmpfs', target: '/t', readonly: false, options: ['size=64m', 'mode=1770'] });
    expect(parseMountFlag('type=tmpfs,dst=/t,tmpfs-size=1000')).toMatchObject({ options: ['size=1000'] });
    expect(parseMountFlag('"type=bind","src=/a,b",dst=/c', '/')).toMatchObject({ source: '/a,b' });
    expect(parseMountFlag('type=bind,src=.,dst=/w', '/home/u')).toMatchObject({ source: '/home/u' });
  });

  it.each([
    ['type=bind,dst=/c', /field Source must not be empty/],
    ['type=bind,src=/a', /target is required/],
    ['type=tmpfs,src=/a,dst=/b', /Source must not be specified/],
    ['type=bind,src=/a,dst=/b,volume-nocopy', /cannot mix 'volume-\*' options with mount type 'bind'/],
    ['type=volume,dst=/b,tmpfs-size=1m', /cannot mix 'tmpfs-\*'/],
    ['type=bind,src=/a,dst=/b,bogus=1', /unexpected key 'bogus' in 'bogus=1'/],
    ['type=bind,src=/a,dst=/b,nokey', /invalid field 'nokey' must be a key=value pair/],
    ['type=bind,src=/a,dst=/b,readonly=maybe', /invalid value for readonly: maybe/],
    ['type=tmpfs,dst=/b,tmpfs-mode=9', /invalid value for tmpfs-mode/],
    ['type=npipe,src=/a,dst=/b', /not supported/],
    ['type=bind,src=rel,dst=/b', /must be an absolute path/],
  ])('--mount %j is refused', (spec, err) => {
    expect(() => parseMountFlag(spec, '/')).toThrow(err);
  });

  it('parses --tmpfs', () => {
    expect(parseTmpfsFlag('/run')).toEqual({ type: 'tmpfs', target: '/run', readonly: false, options: [] });
    expect(parseTmpfsFlag('/run:rw,exec,size=64m,mode=1777')).toEqual({ type: 'tmpfs', target: '/run', readonly: false, options: ['rw', 'exec', 'size=64m', 'mode=1777'] });
    expect(parseTmpfsFlag('/ro:ro').readonly).toBe(true);
    expect(() => parseTmpfsFlag('run')).toThrow(/must be absolute/);
    expect(() => parseTmpfsFlag('/run:bogus')).toThrow(/unknown tmpfs option "bogus"/);
  });

  it('lists image VOLUMEs that no user mount covers', () => {
    expect(imageVolumeTargets({ Volumes: { '/data/': {}, '/logs': {}, relative: {} } }, [{ target: '/logs' }])).toEqual(['/data']);
  });
});

describe('limits and resources', () => {
  it('parses --ulimit', () => {
    expect(parseUlimit('nofile=1024:2048')).toEqual({ type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 });
    expect(parseUlimit('nproc=512')).toEqual({ type: 'RLIMIT_NPROC', soft: 512, hard: 512 });
    expect(parseUlimit('memlock=-1:-1')).toEqual({ type: 'RLIMIT_MEMLOCK', soft: Infinity, hard: Infinity });
    expect(() => parseUlimit('nofile=2048:1024')).toThrow(/soft limit must be less than or equal to hard limit: 2048 > 1024/);
    expect(() => parseUlimit('files=1')).toThrow(/invalid ulimit type: files/);
    expect(() => parseUlimit('nofile')).toThrow(/invalid ulimit argument/);
    expect(() => parseUlimit('nofile=1:2:3')).toThrow(/too many limit values/);
    expect(() => parseUlimit('nofile=x')).toThrow(/"x" is not a number/);
  });

  it('reads /proc/self/limits', () => {
    const text = [
      'Limit                     Soft Limit           Hard Limit           Units     ',
      'Max cpu time              unlimited            unlimited            seconds   ',
      'Max open files            20000                20000                files     ',
      'Max nice priority         0                    0                    ',
    ].join('\n');
    expect(parseProcLimits(text)).toEqual({
      RLIMIT_CPU: { soft: Infinity, hard: Infinity },
      RLIMIT_NOFILE: { soft: 20000, hard: 20000 },
      RLIMIT_NICE: { soft: 0, hard: 0 },
    });
  });

  it('never asks for more than the host hard limit, and says so when asked', () => {
    const warnings: string[] = [];
    const spec = buildSpec(input({ ulimits: [parseUlimit('nproc=2000:4000'), parseUlimit('core=-1')], warn: (m) => warnings.push(m) }));
    expect(spec.process.rlimits).toEqual([
      { type: 'RLIMIT_NOFILE', soft: 20000, hard: 20000 },
      { type: 'RLIMIT_NPROC', soft: 1000, hard: 1000 },
      { type: 'RLIMIT_CORE', soft: Infinity, hard: Infinity },
    ]);
    expect(warnings).toEqual([expect.stringMatching(/^RLIMIT_NPROC lowered to 1000:1000/)]);
    expect(serializeSpec(spec)).toContain('"soft": 18446744073709551615');
    const raised = buildSpec(input({ host: { ...HOST, canRaiseRlimits: true } }));
    expect(raised.process.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', soft: 1048576, hard: 1048576 }]);
    const own = buildSpec(input({ ulimits: [parseUlimit('nofile=10:20')] }));
    expect(own.process.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', soft: 10, hard: 20 }]);
  });

  it('turns --memory, --cpus and --pids-limit into linux.resources', () => {
    expect(buildResources({ memory: '512m', cpus: '1.5', pidsLimit: 100 }, 2)).toEqual({
      memory: { limit: 536870912 },
      cpu: { quota: 150000, period: 100000 },
      pids: { limit: 100 },
    });
    expect(buildResources({ pidsLimit: -1 }, 2)).toBeUndefined();
    expect(() => buildResources({ memory: '1m' }, 2)).toThrow(/minimum memory limit allowed is 6MB/);
    expect(() => buildResources({ cpus: '4' }, 2)).toThrow(/from 0.01 to 2.00, as there are only 2 CPUs/);
    expect(() => buildResources({ cpus: 'lots' }, 2)).toThrow(/invalid --cpus/);
    expect(buildSpec(input({ resources: buildResources({ memory: '64m' }, 2), cgroupsPath: '/ctr/x' })).linux).toMatchObject({ resources: { memory: { limit: 67108864 } }, cgroupsPath: '/ctr/x' });
  });
});

describe('capabilities', () => {
  it('normalizes names', () => {
    expect(normalizeCapability('net_admin')).toBe('CAP_NET_ADMIN');
    expect(normalizeCapability('Cap_Sys_Ptrace')).toBe('CAP_SYS_PTRACE');
    expect(normalizeCapability('all')).toBe('ALL');
    expect(() => normalizeCapability('FLY')).toThrow(/unknown capability "FLY"/);
  });

  it('applies --cap-add and --cap-drop as docker does', () => {
    const d = [...DEFAULT_CAPABILITIES];
    expect(resolveCapabilities({ lastCap: 40 })).toEqual(d);
    expect(resolveCapabilities({ lastCap: 40, capAdd: ['SYS_ADMIN', 'chown'], capDrop: ['NET_RAW'] })).toEqual([...d.filter((c) => c !== 'CAP_NET_RAW'), 'CAP_SYS_ADMIN']);
    expect(resolveCapabilities({ lastCap: 40, capDrop: ['ALL'], capAdd: ['NET_BIND_SERVICE'] })).toEqual(['CAP_NET_BIND_SERVICE']);
    expect(resolveCapabilities({ lastCap: 40, capAdd: ['ALL'], capDrop: ['SYS_ADMIN'] })).toHaveLength(40);
    expect(resolveCapabilities({ lastCap: 37, capAdd: ['BPF'] })).not.toContain('CAP_BPF');
    expect(resolveCapabilities({ lastCap: 40, privileged: true, capDrop: ['ALL'] })).toHaveLength(41);
    const missing: string[] = [];
    const bounding = parseBoundingSet('CapBnd:\t000001fffeffffff\n')!;
    expect(bounding).not.toContain('CAP_SYS_RESOURCE');
    expect(resolveCapabilities({ lastCap: 40, privileged: true, bounding })).toHaveLength(40);
    resolveCapabilities({ lastCap: 40, capAdd: ['SYS_RESOURCE'], bounding, onUnavailable: (c) => missing.push(c) });
    expect(missing).toEqual(['CAP_SYS_RESOURCE']);
  });

  it('gives root the set in bounding, effective and permitted, and other users only the bounding set', () => {
    const root = buildSpec(input()).process.capabilities!;
    expect(root).toEqual({ bounding: DEFAULT_CAPABILITIES, effective: DEFAULT_CAPABILITIES, permitted: DEFAULT_CAPABILITIES });
    const user = buildSpec(input({ user: { uid: 1000, gid: 1000, additionalGids: [], home: '/' } })).process.capabilities!;
    expect(user).toEqual({ bounding: DEFAULT_CAPABILITIES });
  });
});

describe('--security-opt', () => {
  const ctx = { apparmorEnabled: false, readFile: (p: string) => (p === '/p.json' ? '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}' : '{') };
  it('parses the options docker knows', () => {
    const s = parseSecurityOpts(['no-new-privileges', 'seccomp=/p.json', 'label=disable', 'apparmor=unconfined'], ctx);
    expect(s).toMatchObject({ noNewPrivileges: true, seccomp: { kind: 'profile', profile: { defaultAction: 'SCMP_ACT_ALLOW' } }, label: ['disable'] });
    expect(s.notices).toEqual([expect.stringMatching(/AppArmor is not enabled/)]);
    expect(parseSecurityOpts(['no-new-privileges:false', 'seccomp:unconfined'], ctx)).toMatchObject({ noNewPrivileges: false, seccomp: { kind: 'unconfined' } });
    expect(parseSecurityOpts(['apparmor=myprof'], { apparmorEnabled: true }).apparmor).toBe('myprof');
    expect(() => parseSecurityOpts(['seccomp=/bad.json'], ctx)).toThrow(/not valid JSON/);
    expect(() => parseSecurityOpts(['bogus=1'], ctx)).toThrow(/invalid --security-opt "bogus=1"/);
    expect(() => parseSecurityOpts(['no-new-privileges=yes'], ctx)).toThrow(/true or false/);
  });

  it('puts the choice in the spec', () => {
    const unconfined = buildSpec(input({ security: parseSecurityOpts(['seccomp=unconfined', 'no-new-privileges'], ctx) }));
    expect(unconfined.linux.seccomp).toBeUndefined();
    expect(unconfined.process.noNewPrivileges).toBe(true);
    const file = buildSpec(input({ security: parseSecurityOpts(['seccomp=/p.json'], ctx) }));
    expect(file.linux.seccomp).toEqual({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [] });
    expect(buildSpec(input()).linux.seccomp?.defaultAction).toBe('SCMP_ACT_ALLOW');
    expect(buildSpec(input({ security: parseSecurityOpts(['systempaths=unconfined'], ctx) })).linux.maskedPaths).toBeUndefined();
  });
});

describe('the spec', () => {
  it('turns off the overlay features a kernel enables by default (a commit reads the upper directory alone), as root only', () => {
    const host = { ...HOST, overlayDefaultsOn: ['metacopy', 'redirect_dir'] as ('metacopy' | 'redirect_dir')[] };
    expect(buildSpec(input({ mapping: ROOT, host })).mounts[0]!.options).toEqual(['lowerdir=/l/top:/l/base', 'upperdir=/c/upper', 'workdir=/c/work', 'metacopy=off', 'redirect_dir=off']);
    expect(buildSpec(input({ mapping: ROOT, host: { ...HOST, overlayDefaultsOn: [] } })).mounts[0]!.options).toEqual(['lowerdir=/l/top:/l/base', 'upperdir=/c/upper', 'workdir=/c/work']);
    expect(buildSpec(input({ host })).mounts[0]!.options).toEqual(['lowerdir=/l/top:/l/base', 'upperdir=/c/upper', 'workdir=/c/work', 'userxattr']);
  });

  it('mounts the overlay root inside the namespaces, userxattr only rootless', () => {
    const rootless = buildSpec(input());
    expect(rootless.root).toEqual({ path: '/b/rootfs', readonly: false });
    expect(rootless.mounts[0]).toEqual({ destination: '/', type: 'overlay', source: 'overlay', options: ['lowerdir=/l/top:/l/base', 'upperdir=/c/upper', 'workdir=/c/work', 'userxattr'] });
    expect(buildSpec(input({ mapping: ROOT })).mounts[0]!.options).not.toContain('userxattr');
    const dir = buildSpec(input({ rootfs: { kind: 'dir', path: '/merged' }, readOnly: true }));
    expect(dir.root).toEqual({ path: '/merged', readonly: true });
    expect(dir.mounts[0]!.destination).toBe('/proc');
    expect(() => buildSpec(input({ rootfs: { kind: 'overlay', path: '/r', lowerdirs: ['/a:b'], upperdir: '/u', workdir: '/w' } }))).toThrow(/contains "," or ":"/);
    const many = Array.from({ length: 80 }, (_, i) => `/var/lib/ctr/storage/layers/${'0'.repeat(40)}${i}/diff`);
    expect(() => buildSpec(input({ rootfs: { kind: 'overlay', path: '/r', lowerdirs: many, upperdir: '/u', workdir: '/w' } }))).toThrow(/more than the 4095 a mount allows/);
  });

  it('has docker default mounts, namespaces and maps rootless', () => {
    const spec = buildSpec(input());
    expect(spec.mounts.map((m) => `${m.destination} ${m.type}`)).toEqual([
      '/ overlay',
      '/proc proc',
      '/dev tmpfs',
      '/dev/pts devpts',
      '/dev/shm tmpfs',
      '/dev/mqueue mqueue',
      '/sys sysfs',
      '/sys/fs/cgroup cgroup',
    ]);
    expect(spec.mounts.find((m) => m.destination === '/dev/pts')!.options).toContain('gid=5');
    expect(spec.mounts.find((m) => m.destination === '/sys')!.options).toContain('ro');
    expect(spec.linux.namespaces.map((n) => n.type)).toEqual(['pid', 'ipc', 'uts', 'mount', 'network', 'user']);
    expect(spec.linux.uidMappings).toEqual(ROOTLESS.uidMap);
    expect(spec.linux.resources).toBeUndefined();
    expect(spec.linux.maskedPaths).toContain('/proc/kcore');
    expect(spec.linux.readonlyPaths).toContain('/proc/sysrq-trigger');
    expect(spec.hostname).toBe(ID.slice(0, 12));
    expect(spec.process.cwd).toBe('/srv');
    expect(spec.process.env).toContain(`HOSTNAME=${ID.slice(0, 12)}`);
    expect(spec.ociVersion).toBe('1.0.2');
  });

  it('gives root no user namespace but docker device rules, and a cgroup namespace on cgroup v2', () => {
    const spec = buildSpec(input({ mapping: ROOT, host: { ...HOST, cgroupNamespace: true } }));
    expect(spec.linux.namespaces.map((n) => n.type)).toEqual(['pid', 'ipc', 'uts', 'mount', 'network', 'cgroup']);
    expect(spec.linux.uidMappings).toBeUndefined();
    expect(spec.linux.resources!.devices![0]).toEqual({ allow: false, access: 'rwm' });
    expect(spec.linux.resources!.devices).toContainEqual({ allow: true, type: 'c', major: 136, access: 'rwm' });
  });

  it('leaves gid=5 off /dev/pts when the map has no gid 5', () => {
    expect(buildSpec(input({ mapping: SINGLE })).mounts.find((m) => m.destination === '/dev/pts')!.options).not.toContain('gid=5');
  });

  it('with --network host shares the network and binds /sys rootless', () => {
    const spec = buildSpec(input({ network: 'host' }));
    expect(spec.linux.namespaces.map((n) => n.type)).not.toContain('network');
    expect(spec.mounts.find((m) => m.destination === '/sys')).toEqual({ destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] });
    expect(spec.hostname).toBe('buildhost');
    expect(buildSpec(input({ network: 'host', mapping: ROOT })).mounts.find((m) => m.destination === '/sys')!.type).toBe('sysfs');
  });

  it('with the user namespace made by ctr, asks runc for none and keeps groups', () => {
    const user = { uid: 1000, gid: 1000, additionalGids: [50], groupAddGids: [50], home: '/' };
    const warnings: string[] = [];
    const caller = buildSpec(input({ userNamespace: 'caller', user }));
    expect(caller.linux.namespaces.map((n) => n.type)).not.toContain('user');
    expect(caller.linux.uidMappings).toBeUndefined();
    expect(caller.mounts[0]!.options).toContain('userxattr');
    expect(caller.process.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [50] });
    const runtime = buildSpec(input({ user, warn: (m) => warnings.push(m) }));
    expect(runtime.process.user).toEqual({ uid: 1000, gid: 1000 });
    expect(warnings).toEqual([expect.stringMatching(/--group-add 50 has no effect rootless/)]);
  });

  it('--privileged: all capabilities, no seccomp or masked paths, writable /sys, host devices only as root', () => {
    const devices = [{ path: '/dev/kvm', type: 'c' as const, major: 10, minor: 232 }];
    const root = buildSpec(input({ privileged: true, mapping: ROOT, host: { ...HOST, devices } }));
    expect(root.process.capabilities!.bounding).toHaveLength(41);
    expect(root.linux.seccomp).toBeUndefined();
    expect(root.linux.maskedPaths).toBeUndefined();
    expect(root.linux.readonlyPaths).toBeUndefined();
    expect(root.mounts.find((m) => m.destination === '/sys')!.options).not.toContain('ro');
    expect(root.linux.devices).toEqual(devices);
    expect(root.linux.resources!.devices).toEqual([{ allow: true, access: 'rwm' }]);
    const rootless = buildSpec(input({ privileged: true, host: { ...HOST, devices } }));
    expect(rootless.linux.devices).toBeUndefined();
    expect(rootless.process.capabilities!.effective).toHaveLength(41);
  });

  it('places user mounts after the defaults, parents first, replacing defaults at the same place', () => {
    const spec = buildSpec(
      input({
        mounts: [
          parseVolumeFlag('/h/deep:/a/b/c') as never,
          parseTmpfsFlag('/dev/shm:size=1g,exec'),
          parseMountFlag('type=bind,src=/h/a,dst=/a,readonly') as never,
        ],
        etcFiles: { hosts: '/run/c/hosts', hostname: '/run/c/hostname', resolvConf: '/run/c/resolv.conf' },
        init: '/usr/bin/catatonit',
        readOnly: true,
      }),
    );
    expect(spec.mounts.map((m) => m.destination)).toEqual([
      '/',
      '/proc',
      '/dev',
      '/dev/pts',
      '/dev/mqueue',
      '/sys',
      '/sys/fs/cgroup',
      '/a',
      '/etc/hosts',
      '/etc/hostname',
      '/etc/resolv.conf',
      '/run/ctr-init',
      '/dev/shm',
      '/a/b/c',
    ]);
    const by = (d: string) => spec.mounts.find((m) => m.destination === d)!;
    expect(by('/a').options).toEqual(['rbind', 'ro', 'rprivate']);
    expect(by('/a/b/c')).toEqual({ destination: '/a/b/c', type: 'bind', source: '/h/deep', options: ['rbind', 'rprivate'] });
    expect(by('/dev/shm')).toEqual({ destination: '/dev/shm', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'size=1g', 'exec'] });
    expect(by('/etc/hosts').options).toEqual(['rbind', 'rprivate', 'ro']);
    expect(by('/run/ctr-init')).toEqual({ destination: '/run/ctr-init', type: 'bind', source: '/usr/bin/catatonit', options: ['bind', 'ro', 'rprivate'] });
    expect(spec.process.args).toEqual(['/run/ctr-init', '--', 'sh']);
  });

  it('drops the default /dev mounts under a user /dev and refuses two mounts at one place', () => {
    const spec = buildSpec(input({ mounts: [parseVolumeFlag('/hostdev:/dev') as never] }));
    expect(spec.mounts.filter((m) => m.destination.startsWith('/dev')).map((m) => m.type)).toEqual(['bind']);
    expect(() => buildSpec(input({ mounts: [parseTmpfsFlag('/x'), parseTmpfsFlag('/x/')] }))).toThrow(/duplicate mount point: \/x/);
  });

  it('takes -w, hostname, terminal, labels and the user into the process', () => {
    const spec = buildSpec(
      input({
        workdir: '/work',
        hostname: 'web',
        tty: true,
        consoleSize: { height: 40, width: 120 },
        labels: { team: 'a' },
        user: { uid: 1000, gid: 1000, additionalGids: [], home: '/home/app' },
        env: ['X=1'],
      }),
    );
    expect(spec.process).toMatchObject({ cwd: '/work', terminal: true, consoleSize: { height: 40, width: 120 }, user: { uid: 1000, gid: 1000 } });
    expect(spec.process.env).toEqual(['PATH=/usr/bin:/bin', 'HOSTNAME=web', 'TERM=xterm', 'X=1', 'LANG=C.UTF-8', 'HOME=/home/app']);
    expect(spec.hostname).toBe('web');
    expect(spec.annotations).toEqual({ team: 'a' });
    expect(() => buildSpec(input({ workdir: 'rel' }))).toThrow(/working directory 'rel' is invalid/);
    expect(buildSpec(input({ image: {} })).process.cwd).toBe('/');
  });
});
