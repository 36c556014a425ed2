import { existsSync, lchownSync, lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAnonymousVolume, ensureVolume, removeContainerVolumes } from '../../src/engine/volume.js';
import { ContainerIndex, type ContainerMount, type ContainerRecord } from '../../src/store/containers.js';
import { Store } from '../../src/store/store.js';
import { actors, CtrEnv, hostId } from '../helpers/ctr.js';


/** The test acts on the actor's store in-process as root: give what it made back to the actor. */
function giveBack(env: CtrEnv, path: string): void {
  if (env.actor.uid === process.getuid?.()) return;
  const walk = (p: string) => {
    const st = lstatSync(p);
    if (st.uid === 0) lchownSync(p, env.actor.uid, env.actor.gid);
    if (st.isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
  };
  walk(path);
}

function openStore(env: CtrEnv): Store {
  return Store.open({ root: env.root, runroot: env.runroot, remover: (p) => rm(p, { recursive: true, force: true }) });
}

/** A container record as `ctr create` will write it, using the given volumes. */
function addContainer(env: CtrEnv, name: string, mounts: Partial<ContainerMount>[]): ContainerRecord {
  const record: ContainerRecord = {
    id: ContainerIndex.newId(),
    name,
    image: `sha256:${'0'.repeat(64)}`,
    imageName: 'busybox',
    created: new Date().toISOString(),
    config: {},
    mounts: mounts.map((m) => ({ type: 'volume', source: '', destination: '/data', readOnly: false, ...m })),
    labels: {},
    state: { status: 'created' },
  };
  const index = new ContainerIndex(join(env.root, 'containers'));
  index.save([...index.list(), record]);
  giveBack(env, env.root);
  return record;
}

async function makeAnonymous(env: CtrEnv): Promise<string> {
  const { name } = await createAnonymousVolume(openStore(env));
  giveBack(env, env.root);
  giveBack(env, env.runroot);
  return name;
}

describe.each(actors())('volumes as $kind', (actor) => {
  let env: CtrEnv;
  beforeEach(() => {
    env = new CtrEnv(actor);
  });
  afterEach(async () => {
    await env.cleanup();
  });

  const mountpoint = (name: string) => join(env.root, 'volumes', name, '_data');

  it('create prints the name, again for an existing volume, and ls and inspect show it', async () => {
    const first = await env.ctr(['volume', 'create', 'cache']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe('cache\n');
    writeFileSync(join(mountpoint('cache'), 'kept'), 'x');
    const again = await env.ctr(['volume', 'create', 'cache']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe('cache\n');
    expect(readdirSync(mountpoint('cache'))).toEqual(['kept']);

    const st = lstatSync(mountpoint('cache'));
    expect(st.uid).toBe(actor.uid);
    expect(st.mode & 0o777).toBe(0o755);

    const generated = await env.ctr(['volume', 'create']);
    expect(generated.stdout).toMatch(/^[a-f0-9]{64}\n$/);
    const hex = generated.stdout.trim();

    // Listed by name: the generated hex name may sort before or after "cache".
    const names = [hex, 'cache'].sort();
    const ls = await env.ctr(['volume', 'ls']);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toBe(`DRIVER    VOLUME NAME\n${names.map((n) => `local     ${n}\n`).join('')}`);
    expect((await env.ctr(['volume', 'ls', '-q'])).stdout).toBe(names.map((n) => `${n}\n`).join(''));
    const json = (await env.ctr(['volume', 'ls', '--format', 'json'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(json[names.indexOf('cache')]).toMatchObject({ Name: 'cache', Driver: 'local', Scope: 'local', Mountpoint: mountpoint('cache'), Labels: '' });
    // "cach": a generated name is hex, which holds "cac" one time in ~70 but never an h.
    expect((await env.ctr(['volume', 'ls', '--format', '{{.Name}}:{{.Mountpoint}}', '-f', 'name=cach'])).stdout).toBe(`cache:${mountpoint('cache')}\n`);

    const inspect = await env.ctr(['volume', 'inspect', 'cache']);
    expect(inspect.code, inspect.stderr).toBe(0);
    const [obj] = JSON.parse(inspect.stdout);
    expect(Object.keys(obj)).toEqual(['CreatedAt', 'Driver', 'Labels', 'Mountpoint', 'Name', 'Options', 'Scope']);
    expect(obj).toMatchObject({ Driver: 'local', Labels: {}, Mountpoint: mountpoint('cache'), Name: 'cache', Options: {}, Scope: 'local' });
    expect(Date.now() - Date.parse(obj.CreatedAt)).toBeLessThan(60_000);
    expect((await env.ctr(['volume', 'inspect', '--format', '{{.Name}} {{.Driver}}', 'cache'])).stdout).toBe('cache local\n');
  });

  it('parallel creates of one name all succeed and make one volume', async () => {
    const results = await Promise.all(Array.from({ length: 4 }, () => env.ctr(['volume', 'create', 'shared'])));
    for (const r of results) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('shared\n');
    }
    expect(readdirSync(join(env.root, 'volumes')).filter((n) => !n.startsWith('.'))).toEqual(['shared']);
    expect(readdirSync(join(env.root, 'volumes', '.tmp'))).toEqual([]);
  });

  it('inspect prints the volumes it finds and exits 1 for the others', async () => {
    await env.ctr(['volume', 'create', 'one']);
    const r = await env.ctr(['volume', 'inspect', 'one', 'missing']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).map((v: { Name: string }) => v.Name)).toEqual(['one']);
    expect(r.stderr).toBe('Error: no such volume: missing\n');
  });

  it('refuses names outside docker’s grammar and creates nothing', async () => {
    for (const name of ['x', '_ab', '.hidden', 'a/b', '../escape']) {
      const r = await env.ctr(['volume', 'create', name]);
      expect(r.code, name).toBe(125);
      expect(r.stderr, name).toMatch(/^Error: ".*" is not a valid volume name: .*absolute path\n$/);
    }
    const bad = await env.ctr(['volume', 'create', '--opt', 'bogus=1', 'fine']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/invalid volume option "bogus"/);
    expect((await env.ctr(['volume', 'ls', '-q'])).stdout).toBe('');
    expect(existsSync(join(env.root, 'escape'))).toBe(false);
  });

  it('keeps labels and options, and ls filters on labels, names and use', async () => {
    await env.ctr(['volume', 'create', '--label', 'env=prod', 'alpha']);
    await env.ctr(['volume', 'create', '--label', 'env=dev', '--label', 'tier', '--opt', 'type=tmpfs', '--opt', 'o=size=1m', 'beta']);
    await env.ctr(['volume', 'create', 'gamma']);
    const [beta] = JSON.parse((await env.ctr(['volume', 'inspect', 'beta'])).stdout);
    expect(beta.Labels).toEqual({ env: 'dev', tier: '' });
    expect(beta.Options).toEqual({ type: 'tmpfs', o: 'size=1m' });

    const names = async (...filters: string[]) => (await env.ctr(['volume', 'ls', '-q', ...filters.flatMap((f) => ['--filter', f])])).stdout.split('\n').filter(Boolean);
    expect(await names('label=env')).toEqual(['alpha', 'beta']);
    expect(await names('label=env=dev')).toEqual(['beta']);
    expect(await names('label=env', 'label=tier')).toEqual(['beta']);
    expect(await names('name=alpha', 'name=gamma')).toEqual(['alpha', 'gamma']);
    expect(await names('driver=local')).toEqual(['alpha', 'beta', 'gamma']);

    addContainer(env, 'web', [{ source: 'beta' }]);
    expect(await names('dangling=true')).toEqual(['alpha', 'gamma']);
    expect(await names('dangling=false')).toEqual(['beta']);
    const links = await env.ctr(['volume', 'ls', '--format', '{{.Name}} {{.Links}} {{.Labels}}']);
    expect(links.stdout).toBe('alpha 0 env=prod\nbeta 1 env=dev,tier=\ngamma 0 \n');

    const unknown = await env.ctr(['volume', 'ls', '--filter', 'colour=red']);
    expect(unknown.code).toBe(125);
    expect(unknown.stderr).toMatch(/invalid filter "colour": volume ls takes dangling, name, label, driver/);
  });

  it('rm deletes a volume whose files belong to container users, and nothing is left behind', async () => {
    await env.ctr(['volume', 'create', 'owned']);
    const data = mountpoint('owned');
    const made = await env.ctr(['__userns', '--', 'sh', '-c', `mkdir ${data}/x && echo secret > ${data}/x/f && chown -R 1000:1000 ${data}/x && chmod 700 ${data}/x`]);
    expect(made.code, made.stderr).toBe(0);
    expect(lstatSync(join(data, 'x')).uid).toBe(hostId(actor, 1000));

    const r = await env.ctr(['volume', 'rm', 'owned']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('owned\n');
    expect(existsSync(join(env.root, 'volumes', 'owned'))).toBe(false);
    expect(readdirSync(join(env.root, 'volumes', '.trash'))).toEqual([]);
    expect((await env.ctr(['volume', 'ls', '-q'])).stdout).toBe('');
  });

  it('rm removes the others when one name fails, then exits 1; -f ignores missing names', async () => {
    await env.ctr(['volume', 'create', 'aa']);
    await env.ctr(['volume', 'create', 'bb']);
    const r = await env.ctr(['volume', 'rm', 'aa', 'nope', 'bb']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('aa\nbb\n');
    expect(r.stderr).toBe('Error: no such volume: nope\n');
    const forced = await env.ctr(['volume', 'rm', '-f', 'nope']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toBe('');
  });

  it('refuses to remove a volume a container uses unless forced, and prune keeps it', async () => {
    await env.ctr(['volume', 'create', 'used']);
    const c = addContainer(env, 'db', [{ source: 'used' }]);
    const r = await env.ctr(['volume', 'rm', 'used']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`Error: remove used: volume is in use by container db (${c.id.slice(0, 12)}); remove the container first, or use --force\n`);
    expect(existsSync(mountpoint('used'))).toBe(true);

    const prune = await env.ctr(['volume', 'prune', '-a']);
    expect(prune.code, prune.stderr).toBe(0);
    expect(prune.stdout).toBe('Total reclaimed space: 0B\n');
    expect(existsSync(mountpoint('used'))).toBe(true);

    const forced = await env.ctr(['volume', 'rm', '-f', 'used']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toBe('used\n');
    expect(existsSync(mountpoint('used'))).toBe(false);
  });

  it('prune removes unused anonymous volumes, named ones only with -a, and reports the space', async () => {
    await env.ctr(['volume', 'create', 'named']);
    await env.ctr(['volume', 'create', '--label', 'keep=1', 'labelled']);
    const spare = await makeAnonymous(env);
    const held = await makeAnonymous(env);
    addContainer(env, 'app', [{ source: held, anonymous: true }]);
    const [spareInfo] = JSON.parse((await env.ctr(['volume', 'inspect', spare])).stdout);
    expect(spareInfo.Labels).toEqual({ 'com.docker.volume.anonymous': '' });
    // Written inside the namespace, owned by a container user: counted all the same.
    const wrote = await env.ctr(['__userns', '--', 'sh', '-c', `printf 12345 > ${mountpoint(spare)}/f && chown 1000 ${mountpoint(spare)}/f && chmod 600 ${mountpoint(spare)}/f`]);
    expect(wrote.code, wrote.stderr).toBe(0);

    const first = await env.ctr(['volume', 'prune']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe(`Deleted Volumes:\n${spare}\n\nTotal reclaimed space: 5B\n`);

    const filtered = await env.ctr(['volume', 'prune', '-a', '--filter', 'label!=keep']);
    expect(filtered.stdout).toBe('Deleted Volumes:\nnamed\n\nTotal reclaimed space: 0B\n');
    const all = await env.ctr(['volume', 'prune', '--all', '-f']);
    expect(all.stdout).toBe('Deleted Volumes:\nlabelled\n\nTotal reclaimed space: 0B\n');
    expect((await env.ctr(['volume', 'ls', '-q'])).stdout).toBe(`${held}\n`);
  });

  it('removing a container removes its anonymous volumes, not named or shared ones', async () => {
    const store = openStore(env);
    const named = await ensureVolume(store, 'keepme');
    expect(named).toEqual({ name: 'keepme', path: mountpoint('keepme'), created: true });
    expect((await ensureVolume(store, 'keepme')).created).toBe(false);
    const own = await makeAnonymous(env);
    const shared = await makeAnonymous(env);
    const c = addContainer(env, 'one', [
      { source: 'keepme' },
      { source: own, anonymous: true, destination: '/a' },
      { source: shared, anonymous: true, destination: '/b' },
    ]);
    addContainer(env, 'two', [{ source: shared, anonymous: true }]);
    expect(await removeContainerVolumes(openStore(env), c)).toEqual([own]);
    giveBack(env, env.root);
    expect((await env.ctr(['volume', 'ls', '-q'])).stdout.split('\n').filter(Boolean).sort()).toEqual(['keepme', shared].sort());
  });

  it('copies an image directory into an empty volume keeping owners and modes, once', async () => {
    await env.ctr(['volume', 'create', 'seeded']);
    const src = join(env.dir, 'image-dir');
    const made = await env.ctr([
      '__userns', '--', 'sh', '-c',
      `mkdir -p ${src}/etc && echo hi > ${src}/etc/f && chown 1000:1000 ${src}/etc/f && chmod 600 ${src}/etc/f && ln -s etc/f ${src}/link && chown 7:7 ${src} && chmod 750 ${src}`,
    ]);
    expect(made.code, made.stderr).toBe(0);

    const r = await env.ctr(['__volume-populate', 'seeded', src]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ copied: true });
    const data = mountpoint('seeded');
    const f = lstatSync(join(data, 'etc/f'));
    expect([f.uid, f.gid, f.mode & 0o7777]).toEqual([hostId(actor, 1000), hostId(actor, 1000), 0o600]);
    expect(readFileSync(join(data, 'etc/f'), 'utf8')).toBe('hi\n');
    expect(lstatSync(join(data, 'link')).isSymbolicLink()).toBe(true);
    // The volume's root takes the image directory's owner and mode, as in docker.
    const root = lstatSync(data);
    expect([root.uid, root.mode & 0o777]).toEqual([hostId(actor, 7), 0o750]);

    // Not empty any more (and unreadable to the user now): nothing is copied a second time.
    const again = await env.ctr(['__volume-populate', 'seeded', src]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ copied: false });

    await env.ctr(['volume', 'create', 'hasdata']);
    writeFileSync(join(mountpoint('hasdata'), 'mine'), 'x');
    giveBack(env, mountpoint('hasdata'));
    expect(JSON.parse((await env.ctr(['__volume-populate', 'hasdata', src])).stdout)).toEqual({ copied: false });
    expect(readdirSync(mountpoint('hasdata'))).toEqual(['mine']);
    await env.ctr(['volume', 'create', 'nosource']);
    expect(JSON.parse((await env.ctr(['__volume-populate', 'nosource', join(env.dir, 'absent')])).stdout)).toEqual({ copied: false });

    const rm = await env.ctr(['volume', 'rm', 'seeded']);
    expect(rm.code, rm.stderr).toBe(0);
    expect(existsSync(data)).toBe(false);
  });
});
