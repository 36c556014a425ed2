import { execFileSync } from 'node:child_process';
import { chownSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_CAPABILITIES, CAPABILITIES } from '../../src/runtime/capabilities.js';
import { computeIdMapping, type IdMapping } from '../../src/runtime/idmap.js';
import {
  buildSpec,
  parseMountFlag,
  parseSecurityOpts,
  parseTmpfsFlag,
  parseUlimit,
  probeHost,
  serializeSpec,
  type ContainerMount,
  type HostFacts,
  type SpecInput,
} from '../../src/runtime/spec.js';
import { resolveUserInLayers } from '../../src/runtime/user.js';
import { makeLayer, type LayerEntry } from '../fixtures/layers.js';
import { actors, CtrEnv, type Actor, type RunResult } from '../helpers/ctr.js';

const BUSYBOX = '/bin/busybox';
const ID = 'c0ffee0123456789abcdef0123456789abcdef0123456789abcdef0123456789';

/** Layer 1: static busybox, root only in passwd, a directory that layer 2 makes opaque. */
function baseLayer(): Buffer {
  const applets = execFileSync(BUSYBOX, ['--list']).toString().split('\n').filter((a) => a && a !== 'busybox');
  const entries: LayerEntry[] = [
    { type: 'dir', path: 'bin', mode: 0o755 },
    { type: 'file', path: 'bin/busybox', mode: 0o755, content: readFileSync(BUSYBOX) },
    ...applets.map((a): LayerEntry => ({ type: 'symlink', path: `bin/${a}`, target: 'busybox' })),
    { type: 'dir', path: 'etc', mode: 0o755 },
    { type: 'file', path: 'etc/passwd', mode: 0o644, content: 'root:x:0:0:root:/root:/bin/sh\n' },
    { type: 'file', path: 'etc/group', mode: 0o644, content: 'root:x:0:\n' },
    { type: 'dir', path: 'etc/old', mode: 0o755 },
    { type: 'file', path: 'etc/old/passwd', mode: 0o644, content: 'ghost:x:4242:4242::/:/bin/sh\n' },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
    { type: 'dir', path: 'root', mode: 0o700 },
    { type: 'dir', path: 'home', mode: 0o755 },
  ];
  return makeLayer(entries);
}

/** Layer 2: a user app (1000) with supplementary group, /etc/old made opaque, a whiteout. */
function appLayer(): Buffer {
  return makeLayer([
    { type: 'dir', path: 'etc', mode: 0o755 },
    {
      type: 'file',
      path: 'etc/passwd',
      mode: 0o644,
      content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:App:/home/app:/bin/sh\n',
    },
    { type: 'file', path: 'etc/group', mode: 0o644, content: 'root:x:0:\napp:x:1000:\nstaff:x:50:app\n' },
    { type: 'opaque', path: 'etc/old' },
    { type: 'whiteout', path: 'etc/old/passwd' },
    { type: 'dir', path: 'home/app', mode: 0o750, uid: 1000, gid: 1000 },
    { type: 'file', path: 'home/app/owned', mode: 0o644, uid: 1000, gid: 1000, content: 'mine\n' },
  ]);
}

interface Fixture {
  env: CtrEnv;
  mapping: IdMapping;
  /** Top layer first, as overlay wants. */
  lowerdirs: string[];
  host: HostFacts;
}

function mappingFor(actor: Actor): IdMapping {
  if (actor.kind === 'root') return computeIdMapping({ uid: 0, gid: 0, subuid: '', subgid: '', haveMapTools: true });
  return computeIdMapping({
    uid: actor.uid,
    gid: actor.gid,
    user: inject('testUser')?.name,
    subuid: readFileSync('/etc/subuid', 'utf8'),
    subgid: readFileSync('/etc/subgid', 'utf8'),
    haveMapTools: true,
  });
}

function ownedDir(env: CtrEnv, path: string): string {
  mkdirSync(path, { recursive: true });
  chownSync(path, env.actor.uid, env.actor.gid);
  return path;
}

async function unpack(env: CtrEnv, name: string, tar: Buffer): Promise<string> {
  const dir = ownedDir(env, join(env.dir, name));
  const r = await env.ctr(['__layer', 'unpack', dir, '--media-type', 'application/vnd.oci.image.layer.v1.tar'], { input: tar });
  if (r.code !== 0) throw new Error(`__layer unpack failed: ${r.stderr}`);
  return join(dir, 'diff');
}

async function setup(actor: Actor): Promise<Fixture> {
  const env = new CtrEnv(actor);
  ownedDir(env, env.dir);
  const base = await unpack(env, 'layer-base', baseLayer());
  const app = await unpack(env, 'layer-app', appLayer());
  return { env, mapping: mappingFor(actor), lowerdirs: [app, base], host: probeHost() };
}

function hostGid(fx: Fixture, id: number): number {
  const e = fx.mapping.gidMap.find((m) => id >= m.containerID && id < m.containerID + m.size);
  return e ? e.hostID + id - e.containerID : id;
}

let counter = 0;

interface Run extends RunResult {
  upper: string;
  bundle: string;
}

/** Writes a bundle for buildSpec's output and runs it with runc as the actor. */
async function runSpec(fx: Fixture, overrides: Partial<SpecInput> & { userSpec?: string; groupAdd?: string[] } = {}): Promise<Run> {
  const n = ++counter;
  const bundle = ownedDir(fx.env, join(fx.env.dir, `bundle-${n}`));
  const rootfs = ownedDir(fx.env, join(bundle, 'rootfs'));
  const upper = ownedDir(fx.env, join(bundle, 'upper'));
  const work = ownedDir(fx.env, join(bundle, 'work'));
  const state = ownedDir(fx.env, join(bundle, 'state'));
  const { userSpec, groupAdd, ...rest } = overrides;
  const input: SpecInput = {
    id: ID,
    image: { Env: ['PATH=/bin', 'FROM_IMAGE=yes'], Cmd: ['sh'] },
    args: ['true'],
    user: resolveUserInLayers(fx.lowerdirs, userSpec, groupAdd),
    rootfs: { kind: 'overlay', path: rootfs, lowerdirs: fx.lowerdirs, upperdir: upper, workdir: work },
    mapping: fx.mapping,
    host: fx.host,
    ...rest,
  };
  writeFileSync(join(bundle, 'config.json'), serializeSpec(buildSpec(input)));
  const runc = ['runc', '--root', state, 'run', '--bundle', bundle, `spec-${n}`];
  // 'caller': runc runs inside the user namespace ctr made (podman's model), as its root.
  const argv = input.userNamespace === 'caller' ? [...inject('ctrCommand'), '__userns', ...runc] : runc;
  const r = await fx.env.exec(argv, { timeoutMs: 30_000 });
  return { ...r, upper, bundle };
}

function sh(script: string): Partial<SpecInput> {
  return { args: ['sh', '-c', script] };
}

function capMask(names: readonly string[]): string {
  let mask = 0n;
  for (const n of names) mask |= 1n << BigInt(CAPABILITIES.indexOf(n as (typeof CAPABILITIES)[number]));
  return mask.toString(16).padStart(16, '0');
}

for (const actor of actors()) {
  describe(`runc runs buildSpec's config as ${actor.kind}`, () => {
    let fx: Fixture;
    beforeAll(async () => {
      fx = await setup(actor);
    });
    afterAll(async () => {
      await fx?.env.cleanup();
    });

    it('runs the command as root of the container, with docker default capabilities', async () => {
      const r = await runSpec(fx, sh('id; grep -E "^Cap(Eff|Prm|Bnd|Inh|Amb)" /proc/self/status'));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^uid=0\(root\) gid=0\(root\)/);
      const mask = capMask(DEFAULT_CAPABILITIES);
      expect(r.stdout).toContain(`CapEff:\t${mask}`);
      expect(r.stdout).toContain(`CapPrm:\t${mask}`);
      expect(r.stdout).toContain(`CapBnd:\t${mask}`);
      expect(r.stdout).toContain('CapInh:\t0000000000000000');
      expect(r.stdout).toContain('CapAmb:\t0000000000000000');
    });

    it('runs as -u 1000:1000 and as a user named in the top layer with its groups and HOME', async () => {
      const numeric = await runSpec(fx, { userSpec: '1000:1000', ...sh('id -u; id -g; grep CapEff /proc/self/status') });
      expect(numeric.code, numeric.stderr).toBe(0);
      expect(numeric.stdout).toBe('1000\n1000\nCapEff:\t0000000000000000\n');
      const named = await runSpec(fx, { userSpec: 'app', ...sh('id; echo $HOME; cat /home/app/owned') });
      expect(named.code, named.stderr).toBe(0);
      expect(named.stdout).toMatch(/^uid=1000\(app\) gid=1000\(app\).*\n\/home\/app\nmine\n$/);
      // runc cannot set supplementary groups when it makes the user namespace itself.
      if (actor.kind === 'root') expect(named.stdout).toMatch(/^\S+ \S+ groups=50\(staff\)\n/);
    });

    it('gives the environment, hostname and working directory docker would', async () => {
      const r = await runSpec(fx, { ...sh('env | sort; hostname; pwd'), env: ['FROM_FLAG=1'], workdir: '/tmp' });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(
        ['FROM_FLAG=1', 'FROM_IMAGE=yes', 'HOME=/root', `HOSTNAME=${ID.slice(0, 12)}`, 'PATH=/bin', 'PWD=/tmp', 'SHLVL=1', ID.slice(0, 12), '/tmp', ''].join('\n'),
      );
    });

    it('hides masked paths and keeps /proc/sys read-only', async () => {
      const r = await runSpec(fx, sh('wc -c < /proc/timer_list; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/ns_last_pid || echo refused'));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('0\n0\nrefused\n');
      expect(readFileSync('/proc/timer_list').length).toBeGreaterThan(0);
    });

    it('mounts sysfs, /dev/shm, /dev/mqueue, /dev/pts and the usual device nodes', async () => {
      const r = await runSpec(fx, sh('cat /proc/mounts; echo x > /dev/null && head -c 4 /dev/zero | wc -c; ls /dev'));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^sysfs \/sys sysfs ro,/m);
      expect(r.stdout).toMatch(/^shm \/dev\/shm tmpfs .*size=65536k/m);
      expect(r.stdout).toMatch(/^mqueue \/dev\/mqueue mqueue /m);
      // /proc/mounts shows devpts' gid as the host sees it: container gid 5 is a subgid rootless.
      expect(r.stdout).toMatch(new RegExp(`^devpts /dev/pts devpts .*gid=${hostGid(fx, 5)},`, 'm'));
      expect(r.stdout).toContain('\n4\n');
      for (const node of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'ptmx']) expect(r.stdout).toMatch(new RegExp(`^${node}$`, 'm'));
    });

    it('writes new files into the upper directory, owned by the user on the host rootless', async () => {
      const r = await runSpec(fx, sh('echo hi > /made-here && rm /etc/group'));
      expect(r.code, r.stderr).toBe(0);
      const st = lstatSync(join(r.upper, 'made-here'));
      expect(st.uid).toBe(actor.uid);
      expect(readFileSync(join(r.upper, 'made-here'), 'utf8')).toBe('hi\n');
      expect(lstatSync(join(r.upper, 'etc/group')).isCharacterDevice()).toBe(true);
    });

    it('refuses writes to the root with --read-only but not to tmpfs mounts', async () => {
      const r = await runSpec(fx, {
        readOnly: true,
        mounts: [parseTmpfsFlag('/scratch:size=1m')],
        ...sh('touch /nope 2>&1; touch /scratch/yes && grep " /scratch " /proc/mounts'),
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/Read-only file system/);
      expect(r.stdout).toMatch(/^tmpfs \/scratch tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k/m);
    });

    it('bind-mounts host directories read-write and read-only', async () => {
      const host = ownedDir(fx.env, join(fx.env.dir, 'share'));
      writeFileSync(join(host, 'in'), 'from host\n');
      const mounts = [parseMountFlag(`type=bind,src=${host},dst=/share`), parseMountFlag(`type=bind,src=${host},dst=/ro,readonly`)] as ContainerMount[];
      const r = await runSpec(fx, { mounts, ...sh('cat /share/in; echo out > /share/out; (echo x > /ro/x) 2>&1 || echo refused') });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^from host\n.*Read-only file system\nrefused\n$/s);
      expect(lstatSync(join(host, 'out')).uid).toBe(actor.uid);
    });

    it('blocks creating user namespaces with the default seccomp profile, and not when unconfined', async () => {
      const blocked = await runSpec(fx, sh('unshare -U true 2>&1; echo rc=$?'));
      expect(blocked.stdout).toMatch(/Operation not permitted[\s\S]*rc=1/);
      const allowed = await runSpec(fx, { security: parseSecurityOpts(['seccomp=unconfined'], { apparmorEnabled: false }), ...sh('unshare -U true; echo rc=$?') });
      expect(allowed.stdout).toBe('rc=0\n');
    });

    it('clamps the default open-files limit to what the host allows and applies --ulimit', async () => {
      const hard = fx.host.rlimits.RLIMIT_NOFILE!.hard;
      const expected = Math.min(hard, 1_048_576);
      const r = await runSpec(fx, sh('ulimit -n; ulimit -Hn'));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`${expected}\n${expected}\n`);
      const set = await runSpec(fx, { ulimits: [parseUlimit('nofile=100:200')], ...sh('ulimit -n; ulimit -Hn') });
      expect(set.stdout).toBe('100\n200\n');
    });

    it('runs the command under the init binary with --init', async () => {
      const r = await runSpec(fx, { init: '/usr/bin/catatonit', ...sh('tr "\\0" " " < /proc/1/cmdline; echo; echo $$') });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^\/run\/ctr-init -- sh -c /);
      expect(r.stdout.split('\n')[1]).not.toBe('1');
    });

    it('gives every capability with --privileged and one added with --cap-add', async () => {
      const host = probeHost({ devices: true });
      const disk = host.devices!.find((d) => d.type === 'b')!;
      const priv = await runSpec(fx, { privileged: true, host, ...sh(`grep CapEff /proc/self/status; test -b ${disk.path} && echo has-${disk.path}; true`) });
      expect(priv.code, priv.stderr).toBe(0);
      // Host devices go only to a root container: rootless, the user could not open them anyway.
      expect(priv.stdout.includes(`has-${disk.path}`)).toBe(actor.kind === 'root');
      priv.stdout = priv.stdout.replace(/has-.*\n/, '');
      // As root no user namespace is made, so ctr's own bounding set is the limit (CAP_SYS_RESOURCE is missing here).
      const all = CAPABILITIES.slice(0, fx.host.lastCap + 1).filter((c) => actor.kind === 'user' || (fx.host.boundingCaps?.includes(c) ?? true));
      expect(priv.stdout).toBe(`CapEff:\t${capMask(all)}\n`);
      const added = await runSpec(fx, { capAdd: ['net_admin'], capDrop: ['CAP_CHOWN'], ...sh('grep CapEff /proc/self/status') });
      const want = [...DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_CHOWN'), 'CAP_NET_ADMIN'];
      expect(added.stdout).toBe(`CapEff:\t${capMask(want)}\n`);
    });

    it('runs with the host network, binding /sys rootless', async () => {
      const r = await runSpec(fx, { network: 'host', ...sh('grep " /sys " /proc/mounts | cut -d" " -f3; ls /sys/class/net | grep -c .') });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.split('\n')[0]).toBe('sysfs');
    });

    it.runIf(actor.kind === 'user')('sets supplementary groups when started inside a user namespace ctr made', async () => {
      const r = await runSpec(fx, { userNamespace: 'caller', userSpec: 'app', groupAdd: ['777'], ...sh('id; grep CapEff /proc/self/status; echo hi > /home/app/new') });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('uid=1000(app) gid=1000(app) groups=50(staff),777\nCapEff:\t0000000000000000\n');
      const st = lstatSync(join(r.upper, 'home/app/new'));
      expect([st.uid, st.gid]).toEqual([fx.mapping.uidMap[1]!.hostID + 999, hostGid(fx, 1000)]);
      const root = await runSpec(fx, { userNamespace: 'caller', ...sh('id -u; grep CapEff /proc/self/status') });
      expect(root.stdout).toBe(`0\nCapEff:\t${capMask(DEFAULT_CAPABILITIES)}\n`);
    });
  });
}
