import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { actors, CtrEnv } from '../helpers/ctr.js';
import { useRunImages } from '../fixtures/run-registry.js';

const images = useRunImages();

/** docker's default capability set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP. */
const DOCKER_DEFAULT_CAPS = 0xa80425fbn;
const CAP = { CHOWN: 0, NET_ADMIN: 12, NET_RAW: 13, SYS_PTRACE: 19, SYS_ADMIN: 21 } as const;
const has = (mask: bigint, cap: number) => ((mask >> BigInt(cap)) & 1n) === 1n;

/** Fields of /proc/self/status as printed by `grep -E ... /proc/self/status`. */
function status(text: string): Record<string, string> {
  return Object.fromEntries(text.trim().split('\n').map((l) => l.split(/:\s*/) as [string, string]));
}

describe.each(actors())('ctr run options as $kind', (actor) => {
  let env: CtrEnv;
  beforeAll(async () => {
    env = await CtrEnv.withImages(actor, images.base, images.conf);
  });
  afterAll(async () => {
    await env?.cleanup();
  });

  // A test that left containers behind fails on its own; the next one starts clean.
  afterEach(() => env.removeContainers());
  const out = async (args: string[], opts: { env?: Record<string, string> } = {}) => {
    const r = await env.ctr(['run', '--rm', ...args], opts);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };

  it('pulls a missing image on first run; --pull=never then runs the local one', async () => {
    const first = await env.ctr(['run', '--rm', images.entry]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe('entry default-cmd\n');
    expect(first.stderr).toContain(images.entry);
    const local = await env.ctr(['run', '--rm', '--pull=never', images.entry]);
    expect([local.code, local.stdout, local.stderr]).toEqual([0, 'entry default-cmd\n', '']);
  });

  it('runs ENTRYPOINT with CMD or with the given args; --entrypoint replaces both; an empty one clears it', async () => {
    expect(await out([images.entry, 'a', 'b'])).toBe('entry a b\n');
    expect(await out(['--entrypoint', 'hello', images.entry])).toBe('hello \n');
    expect(await out(['--entrypoint', 'hello', images.entry, 'x', 'y'])).toBe('hello x y\n');
    expect(await out(['--entrypoint', '', images.entry, 'echo', 'cleared'])).toBe('cleared\n');
    // An image without ENTRYPOINT runs the arguments as the command.
    expect(await out([images.base, 'echo', 'plain'])).toBe('plain\n');
  });

  it('takes Env, WorkingDir (created when missing) and User from the image; -e, --env-file, -w and -u override them', async () => {
    expect(await out([images.conf])).toBe('hi image /srv/work app\n');
    const envFile = join(env.dir, 'vars.env');
    writeFileSync(envFile, '# a comment\nFROM_FILE=yes\nMODE=file\n\n');
    const script = 'echo "$GREETING $MODE $FROM_FILE $PASSED $(pwd) $(id -un)"';
    expect(await out(['--env-file', envFile, '-e', 'PASSED', '-w', '/tmp', '-u', 'root', images.conf, 'sh', '-c', script], { env: { PASSED: 'from-host' } })).toBe(
      'hi file yes from-host /tmp root\n',
    );
    // -e after --env-file wins, as in docker.
    expect(await out(['--env-file', envFile, '-e', 'MODE=flag', images.conf, 'sh', '-c', 'echo $MODE'])).toBe('flag\n');
    expect(await out(['-w', '/made/for/you', images.base, 'pwd'])).toBe('/made/for/you\n');
    const envs = (await out([images.base, 'env'])).split('\n');
    expect(envs).toContain('HOME=/root');
    expect(envs.some((e) => e.startsWith('PATH=/usr/local/sbin'))).toBe(true);
  });

  it('-u takes names and ids from the image: a name brings its groups, uid:gid and user:group set both, a bare uid gets gid 0', async () => {
    const app = await out(['-u', 'app', images.base, 'id']);
    expect(app).toMatch(/^uid=1000\(app\) gid=1000\(app\) groups=.*50\(staff\)/);
    expect(app).toContain('2000(extra)');
    expect(await out(['-u', '1000:2000', images.base, 'id'])).toBe('uid=1000(app) gid=2000(extra)\n');
    expect(await out(['-u', 'app:staff', images.base, 'id'])).toBe('uid=1000(app) gid=50(staff)\n');
    expect(await out(['-u', '1234', images.base, 'id'])).toBe('uid=1234 gid=0(root)\n');
    const unknown = await env.ctr(['run', '--rm', '-u', 'app:nogroup-here', images.base, 'id']);
    expect(unknown.code).toBe(125);
    expect(unknown.stderr).toMatch(/nogroup-here/);
  });

  it('--hostname names the host; by default it is the short ID that --cidfile records; a used cidfile is refused', async () => {
    expect(await out(['--hostname', 'myhost', images.base, 'sh', '-c', 'hostname; cat /etc/hostname; echo $HOSTNAME'])).toBe('myhost\nmyhost\nmyhost\n');
    const cidfile = join(env.dir, 'cid');
    const short = await out(['--cidfile', cidfile, images.base, 'hostname']);
    const id = readFileSync(cidfile, 'utf8');
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(short).toBe(`${id.slice(0, 12)}\n`);
    const again = await env.ctr(['run', '--rm', '--cidfile', cidfile, images.base, 'true']);
    expect(again.code).toBe(125);
    expect(again.stderr).toMatch(/cid.*exists/);
    expect(readFileSync(cidfile, 'utf8')).toBe(id);
  });

  it('--name is unique: a second container with it fails with 125 and leaves only the first; --label shows in ps filters', async () => {
    const first = await env.ctr(['run', '--name', 'only-one', '--label', 'team=core', '--label', 'flag', images.base, 'true']);
    expect(first.code, first.stderr).toBe(0);
    const second = await env.ctr(['run', '--name', 'only-one', images.base, 'true']);
    expect(second.code).toBe(125);
    expect(second.stderr).toMatch(/"only-one" is already in use/);
    const listed = (await env.ctr(['ps', '-a', '--format', '{{.Names}} {{.Labels}}'])).stdout;
    expect(listed.split(/[ ,\n]/).filter(Boolean).sort()).toEqual(['flag=', 'only-one', 'team=core']);
    expect((await env.ctr(['ps', '-a', '--filter', 'label=team=core', '--format', '{{.Names}}'])).stdout).toBe('only-one\n');
    expect((await env.ctr(['ps', '-a', '--filter', 'label=flag', '--format', '{{.Names}}'])).stdout).toBe('only-one\n');
    expect((await env.ctr(['ps', '-a', '--filter', 'label=team=other', '-q'])).stdout).toBe('');
    expect((await env.ctr(['rm', 'only-one'])).code).toBe(0);
    expect(readdirSync(join(env.root, 'containers')).filter((n) => n !== 'containers.json')).toEqual([]);
  });

  it('--read-only makes / unwritable but keeps /dev/shm, and --tmpfs adds a writable mount', async () => {
    const r = await env.ctr(['run', '--rm', '--read-only', '--tmpfs', '/scratch:size=1m', images.base, 'sh', '-c', 'touch /file; echo root=$?; touch /dev/shm/f && echo shm=ok; echo x > /scratch/f && grep " /scratch " /proc/mounts']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Read-only file system/);
    expect(r.stdout).toMatch(/^root=1\nshm=ok\ntmpfs \/scratch tmpfs rw,.*size=1024k/);
  });

  it('shows the capabilities asked for in /proc/self/status: docker’s default set, --cap-add/--cap-drop, --privileged, no-new-privileges', async () => {
    const caps = async (flags: string[]) => status(await out([...flags, images.base, 'grep', '-E', '^(CapEff|CapBnd|NoNewPrivs)', '/proc/self/status']));
    const defaults = await caps([]);
    expect(BigInt(`0x${defaults.CapEff}`)).toBe(DOCKER_DEFAULT_CAPS);
    expect(BigInt(`0x${defaults.CapBnd}`)).toBe(DOCKER_DEFAULT_CAPS);
    expect(defaults.NoNewPrivs).toBe('0');
    expect(BigInt(`0x${(await caps(['--cap-drop', 'ALL', '--cap-add', 'NET_RAW'])).CapEff}`)).toBe(1n << BigInt(CAP.NET_RAW));
    const changed = BigInt(`0x${(await caps(['--cap-add', 'SYS_ADMIN', '--cap-drop', 'CHOWN'])).CapEff}`);
    expect([has(changed, CAP.SYS_ADMIN), has(changed, CAP.CHOWN), has(changed, CAP.NET_RAW)]).toEqual([true, false, true]);
    const privileged = BigInt(`0x${(await caps(['--privileged'])).CapEff}`);
    expect([CAP.SYS_ADMIN, CAP.NET_ADMIN, CAP.SYS_PTRACE].map((c) => has(privileged, c))).toEqual([true, true, true]);
    expect((await caps(['--security-opt', 'no-new-privileges'])).NoNewPrivs).toBe('1');
  });

  it('--ulimit sets soft and hard limits; --init runs catatonit as pid 1', async () => {
    expect(await out(['--ulimit', 'nofile=123:456', images.base, 'sh', '-c', 'ulimit -n; ulimit -Hn'])).toBe('123\n456\n');
    const catatonit = createHash('sha256').update(readFileSync(execFileSync('sh', ['-c', 'command -v catatonit']).toString().trim())).digest('hex');
    const pid1 = await out(['--init', images.base, 'sh', '-c', 'sha256sum /proc/1/exe; echo $$']);
    const [exe, shellPid] = pid1.split('\n');
    expect(exe).toBe(`${catatonit}  /proc/1/exe`);
    expect(Number(shellPid)).toBeGreaterThan(1);
  });

  it('--network none gives only loopback; host shares the host’s interfaces and name', async () => {
    const ifaces = (text: string) => text.split('\n').filter(Boolean).map((l) => l.trim()).sort();
    const list = 'tail -n +3 /proc/net/dev | cut -d: -f1';
    expect(ifaces(await out(['--network', 'none', images.base, 'sh', '-c', list]))).toEqual(['lo']);
    expect(ifaces(await out([images.base, 'sh', '-c', list]))).toEqual(['lo']);
    const hostIfaces = ifaces(execFileSync('sh', ['-c', list]).toString());
    const host = await out(['--network', 'host', images.base, 'sh', '-c', `${list}; echo name=$(hostname)`]);
    expect(ifaces(host.replace(/name=.*\n/, ''))).toEqual(hostIfaces);
    expect(host).toContain(`name=${hostname()}\n`);
  });
});
