import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { actors, CtrEnv, type Actor } from '../helpers/ctr.js';
import { useRunImages } from '../fixtures/run-registry.js';

const images = useRunImages();
/** Archives made as root by podman and skopeo, readable by every actor. */
let made: string;

const podmanAs = (root: string, run: string) => ['podman', '--root', root, '--runroot', run, '--storage-driver', 'vfs'];

beforeAll(async () => {
  made = mkdtempSync(join(tmpdir(), 'ctr-save-load-'));
  chmodSync(made, 0o755);
  const podman = podmanAs(join(made, 'podman'), join(made, 'podman-run'));
  const run = (argv: string[]) => execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  run([...podman, 'pull', '-q', '--tls-verify=false', images.base]);
  run([...podman, 'save', '-o', join(made, 'podman-docker.tar'), images.base]);
  run([...podman, 'save', '--format', 'oci-archive', '-o', join(made, 'podman-oci.tar'), images.base]);
  run(['skopeo', 'copy', '-q', '--src-tls-verify=false', `docker://${images.vol}`, `docker-archive:${join(made, 'skopeo-docker.tar')}:test/skopeo:1`]);
  run(['skopeo', 'copy', '-q', '--src-tls-verify=false', `docker://${images.vol}`, `oci-archive:${join(made, 'skopeo-oci.tar')}:test/skopeo:2`]);
  for (const f of readdirSync(made)) if (f.endsWith('.tar')) chmodSync(join(made, f), 0o644);
}, 120_000);

afterAll(async () => {
  if (made) rmSync(made, { recursive: true, force: true });
});

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const HEX64 = /^[a-f0-9]{64}$/;

/** The shell, as the actor, with "$ctr" set to the ctr under test. */
function shell(env: CtrEnv, script: string, extra: Record<string, string> = {}) {
  return env.exec(['sh', '-c', `ctr=${inject('ctrCommand').join(' ')}; ${script}`], { env: extra });
}

describe.each(actors())('ctr save and load as $kind', (actor: Actor) => {
  let env: CtrEnv;
  let stores = 0;
  const podmanDirs: string[] = [];
  beforeAll(async () => {
    env = await CtrEnv.withImages(actor, images.base, images.vol);
    expect((await env.ctr(['tag', images.base, 'example.com/team/extra:2'])).code).toBe(0);
  });
  afterAll(async () => {
    // Rootless podman leaves a pause process in its runtime directory: end it.
    const pause = join(env.dir, 'xdg/libpod/tmp/pause.pid');
    if (existsSync(pause)) {
      try {
        process.kill(Number(readFileSync(pause, 'utf8')));
      } catch {
        // Already gone.
      }
    }
    await env.cleanup();
    for (const d of podmanDirs) rmSync(d, { recursive: true, force: true });
  });

  /** Environment for a new, empty store of this actor (CTR_ROOT/CTR_RUNROOT). */
  const emptyStore = () => {
    stores++;
    return { CTR_ROOT: join(env.dir, `store${stores}`), CTR_RUNROOT: join(env.dir, `run${stores}`) };
  };
  /** "ID NAME" lines, sorted, of a store. */
  const listed = async (store: Record<string, string> = {}) => {
    const r = await env.ctr(['images', '--no-trunc', '--format', '{{.ID}} {{.Repository}}:{{.Tag}}'], { env: store });
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.trim().split('\n').filter(Boolean).sort();
  };
  const layerDirs = (store: Record<string, string>) => {
    const dir = join(store.CTR_ROOT!, 'layers');
    return existsSync(dir) ? readdirSync(dir).filter((n) => HEX64.test(n)) : [];
  };

  it('save -o then load into an empty store keeps the image id and tag, and the loaded image runs with its owners', async () => {
    const file = join(env.dir, 'base.tar');
    const saved = await env.ctr(['save', '-o', file, images.base]);
    expect([saved.code, saved.stdout, saved.stderr]).toEqual([0, '', '']);
    expect(readdirSync(env.dir).filter((n) => n.includes('.tmp'))).toEqual([]);

    const store = emptyStore();
    const loaded = await env.ctr(['load', '-i', file], { env: store });
    expect(loaded.code, loaded.stderr).toBe(0);
    expect(loaded.stdout).toBe(`Loaded image: ${images.base}\n`);
    expect(loaded.stderr).toMatch(/^Loading layer [a-f0-9]{12} /m);
    expect(await listed(store)).toEqual([`${images.ids.base} ${images.base}`]);

    const ran = await env.ctr(['run', '--rm', images.base, 'sh', '-c', 'cat /home/app/owned; stat -c "%u:%g %a" /home/app/owned /usr/bin/suid-tool'], { env: store });
    expect([ran.code, ran.stdout, ran.stderr]).toEqual([0, 'mine\n1000:1000 600\n0:0 4755\n', '']);

    // Loading again finds every layer present and only names the image.
    const again = await env.ctr(['load', '-q', '-i', file], { env: store });
    expect([again.code, again.stdout, again.stderr]).toEqual([0, `Loaded image: ${images.base}\n`, '']);
  });

  it('several images go through a pipe in one archive, each with its names, layers shared once', async () => {
    const store = emptyStore();
    const r = await shell(env, `$ctr save ${images.base} example.com/team/extra:2 ${images.vol} > multi.tar && CTR_ROOT=${store.CTR_ROOT} CTR_RUNROOT=${store.CTR_RUNROOT} $ctr load < multi.tar`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual([`Loaded image: ${images.base}`, `Loaded image: ${images.vol}`, 'Loaded image: example.com/team/extra:2'].sort());
    expect(await listed(store)).toEqual([`${images.ids.base} ${images.base}`, `${images.ids.base} example.com/team/extra:2`, `${images.ids.vol} ${images.vol}`].sort());
    // base and vol share two layers; vol adds one.
    expect(layerDirs(store)).toHaveLength(3);
    const members = execFileSync('tar', ['-tf', join(env.dir, 'multi.tar')]).toString().split('\n').filter(Boolean);
    expect(members.filter((m) => m.endsWith('.tar'))).toHaveLength(3);
    expect(JSON.parse(execFileSync('tar', ['-xOf', join(env.dir, 'multi.tar'), 'manifest.json']).toString()).map((e: { RepoTags: string[] }) => e.RepoTags)).toEqual([
      [images.base, 'example.com/team/extra:2'],
      [images.vol],
    ]);
  });

  it('oci-archive and oci-dir round trip with names, and skopeo reads the same config from them', async () => {
    const save = await env.ctr(['save', '--format', 'oci-archive', '-o', 'vol.oci.tar', images.vol]);
    expect(save.code, save.stderr).toBe(0);
    const dir = await env.ctr(['save', '--format', 'oci-dir', '-o', 'vol-layout', images.vol]);
    expect(dir.code, dir.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(env.dir, 'vol-layout/oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    const config = execFileSync('skopeo', ['inspect', '--raw', '--config', `oci:${join(env.dir, 'vol-layout')}`]);
    expect(sha(config)).toBe(images.ids.vol);
    const archived = execFileSync('skopeo', ['inspect', '--raw', '--config', `oci-archive:${join(env.dir, 'vol.oci.tar')}`]);
    expect(sha(archived)).toBe(images.ids.vol);

    for (const input of ['vol.oci.tar', 'vol-layout']) {
      const store = emptyStore();
      const loaded = await env.ctr(['load', '-i', input], { env: store });
      expect(loaded.code, loaded.stderr).toBe(0);
      expect(loaded.stdout).toBe(`Loaded image: ${images.vol}\n`);
      expect(await listed(store)).toEqual([`${images.ids.vol} ${images.vol}`]);
      const ran = await env.ctr(['run', '--rm', images.vol, 'cat', '/data/seed'], { env: store });
      expect([ran.code, ran.stdout]).toEqual([0, 'from the image\n']);
    }
  });

  it("podman load reads ctr's docker-archive and oci-archive and finds the same image id", async () => {
    mkdirSync(env.home, { recursive: true, mode: 0o700 });
    mkdirSync(join(env.dir, 'xdg'), { mode: 0o700 });
    if (actor.kind === 'user') {
      chownSync(env.home, actor.uid, actor.gid);
      chownSync(join(env.dir, 'xdg'), actor.uid, actor.gid);
    }
    for (const [format, file] of [
      ['docker-archive', 'for-podman.tar'],
      ['oci-archive', 'for-podman.oci.tar'],
    ] as const) {
      const saved = await env.ctr(['save', '--format', format, '-o', file, images.base]);
      expect(saved.code, saved.stderr).toBe(0);
      // podman wants a run directory of at most 50 characters.
      const short = mkdtempSync('/tmp/ctr-pm-');
      if (actor.kind === 'user') chownSync(short, actor.uid, actor.gid);
      podmanDirs.push(short);
      const podman = podmanAs(join(short, 'root'), join(short, 'run'));
      const xdg = { XDG_RUNTIME_DIR: join(env.dir, 'xdg') };
      const loaded = await env.exec([...podman, 'load', '-i', join(env.dir, file)], { env: xdg });
      expect(loaded.code, loaded.stderr).toBe(0);
      expect(loaded.stdout).toContain(`Loaded image: ${images.base}`);
      const ids = await env.exec([...podman, 'images', '--no-trunc', '--format', '{{.ID}} {{.Repository}}:{{.Tag}}'], { env: xdg });
      expect(ids.stdout.trim().replace(/^(sha256:)?/, 'sha256:')).toBe(`${images.ids.base} ${images.base}`);
    }
  });

  it('loads what podman save and skopeo copy wrote, docker-archive and oci-archive, with their ids and names', async () => {
    const cases = [
      ['podman-docker.tar', images.ids.base, images.base],
      ['podman-oci.tar', images.ids.base, images.base],
      ['skopeo-docker.tar', images.ids.vol, 'docker.io/test/skopeo:1'],
      ['skopeo-oci.tar', images.ids.vol, 'docker.io/test/skopeo:2'],
    ] as const;
    for (const [file, id, name] of cases) {
      const store = emptyStore();
      const loaded = await env.ctr(['load', '-i', join(made, file)], { env: store });
      expect(loaded.code, `${file}: ${loaded.stderr}`).toBe(0);
      const shown = name.replace(/^docker\.io\//, '');
      expect(loaded.stdout, file).toBe(`Loaded image: ${shown}\n`);
      expect(await listed(store), file).toEqual([`${id} ${shown}`]);
    }
    const store = emptyStore();
    const ran = await env.ctr(['load', '-q', '-i', join(made, 'skopeo-docker.tar')], { env: store });
    expect(ran.code, ran.stderr).toBe(0);
    const cat = await env.ctr(['run', '--rm', 'test/skopeo:1', 'cat', '/data/seed'], { env: store });
    expect([cat.code, cat.stdout]).toEqual([0, 'from the image\n']);
  });

  it('a truncated, garbage, empty or tampered archive is refused in one sentence and leaves the store as it was', async () => {
    const good = join(env.dir, 'good.tar');
    expect((await env.ctr(['save', '-o', good, images.base])).code).toBe(0);
    const bytes = readFileSync(good);

    // Flip one byte in the middle of the biggest layer member's content.
    const tampered = Buffer.from(bytes);
    let biggest = { offset: 0, size: 0 };
    for (let off = 0; off + 512 <= tampered.length; ) {
      const name = tampered.toString('latin1', off, off + 100).replace(/\0.*$/, '');
      if (!name) break;
      const size = parseInt(tampered.toString('latin1', off + 124, off + 136).replace(/\0.*$/, '').trim(), 8);
      if (name.endsWith('.tar') && size > biggest.size) biggest = { offset: off + 512, size };
      off += 512 + Math.ceil(size / 512) * 512;
    }
    tampered[biggest.offset + Math.floor(biggest.size / 2)] ^= 0xff;
    const files = {
      'truncated.tar': bytes.subarray(0, Math.floor(bytes.length / 2)),
      'garbage.tar': Buffer.from('this is not an archive at all\n'.repeat(100)),
      'empty.tar': Buffer.alloc(0),
      'tampered.tar': tampered,
      'no-manifest.tar': execFileSync('tar', ['-cf', '-', '-C', '/etc', 'hostname']),
    };
    const expected: Record<keyof typeof files, RegExp> = {
      'truncated.tar': /is truncated: it ends in the middle of [a-f0-9]{64}\.tar/,
      'garbage.tar': /is not an image archive: it is neither a tar file nor gzip or zstd compressed/,
      'empty.tar': /is empty/,
      'tampered.tar': /(config says|corrupt)/,
      'no-manifest.tar': /is not an image archive: it has neither manifest.json \(docker-archive\) nor index.json/,
    };
    for (const [name, content] of Object.entries(files)) {
      const path = join(env.dir, name);
      writeFileSync(path, content);
      if (actor.kind === 'user') chownSync(path, actor.uid, actor.gid);
      const store = emptyStore();
      const r = await env.ctr(['load', '-q', '-i', path], { env: store });
      expect(r.code, `${name}: ${r.stderr}`).toBe(125);
      expect(r.stdout).toBe('');
      expect(r.stderr, name).toMatch(new RegExp(`^Error: [^\\n]*${path.replace(/[.]/g, '\\.')}[^\\n]*\\n$`));
      expect(r.stderr, name).toMatch(expected[name as keyof typeof files]);
      expect(await listed(store), name).toEqual([]);
      expect(layerDirs(store), name).toEqual([]);
    }
    // From standard input the archive is named as such.
    const piped = await env.ctr(['load', '-q'], { input: bytes.subarray(0, 5000), env: emptyStore() });
    expect(piped.code).toBe(125);
    expect(piped.stderr).toMatch(/^Error: the archive on standard input is truncated/);
  });

  it('a failed save leaves no file; a terminal is refused for the archive', async () => {
    const r = await env.ctr(['save', '-o', 'never.tar', images.base, 'no-such-image:1']);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/^Error: no such image: no-such-image:1/);
    expect(readdirSync(env.dir).filter((n) => n.includes('never'))).toEqual([]);

    const tty = await env.exec(['script', '-qec', `${inject('ctrCommand').join(' ')} save ${images.base}`, '/dev/null']);
    expect(tty.stdout).toMatch(/refusing to write an image archive to a terminal; use -o FILE or redirect standard output/);
    const ttyIn = await env.exec(['script', '-qec', `${inject('ctrCommand').join(' ')} load`, '/dev/null']);
    expect(ttyIn.stdout).toMatch(/refusing to read an image archive from a terminal/);
  });
});
