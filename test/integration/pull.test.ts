import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actors, CtrEnv, hostId } from '../helpers/ctr.js';
import { pushIndex, pushTestImage, sha256, type TestImage } from '../fixtures/images.js';
import { makeLayer } from '../fixtures/layers.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';

let reg: TestRegistry;
let base: TestImage;
let app: TestImage;
let zstdImage: TestImage;
let dockerImage: TestImage;

const baseLayer = makeLayer([
  { type: 'dir', path: 'etc', mode: 0o755 },
  { type: 'file', path: 'etc/os-release', content: 'NAME=ctr-test\n', mode: 0o644 },
  { type: 'dir', path: 'home/app', mode: 0o750, uid: 1000, gid: 1000 },
  { type: 'file', path: 'home/app/owned', content: 'mine\n', mode: 0o600, uid: 1000, gid: 1000 },
  { type: 'file', path: 'bin/tool', content: '#!/bin/sh\n', mode: 0o4755 },
]);
const appLayer = makeLayer([{ type: 'file', path: 'app/run', content: 'run\n', mode: 0o755 }, { type: 'whiteout', path: 'etc/os-release' }]);


beforeAll(async () => {
  reg = await startRegistry();
  base = await pushTestImage(reg, 'test/base', 'v1', { layers: [baseLayer] });
  await pushTestImage(reg, 'test/base', 'v2', { layers: [baseLayer] });
  app = await pushTestImage(reg, 'test/app', 'v1', { layers: [baseLayer, appLayer], labels: { team: 'core' } });
  zstdImage = await pushTestImage(reg, 'test/zstd', 'latest', { layers: [makeLayer([{ type: 'file', path: 'z', content: 'zstd!\n' }])], compression: 'zstd' });
  dockerImage = await pushTestImage(reg, 'test/docker', 'latest', { layers: [makeLayer([{ type: 'file', path: 'd', content: 'docker\n' }])], format: 'docker' });
  const amdLayer = makeLayer([{ type: 'file', path: 'arch', content: 'amd64\n' }]);
  const amd = await pushTestImage(reg, 'test/multi', 'amd64', { layers: [amdLayer] });
  const arm = await pushTestImage(reg, 'test/multi', 'arm64', { layers: [makeLayer([{ type: 'file', path: 'arch', content: 'arm64\n' }])], architecture: 'arm64', variant: 'v8' });
  await pushIndex(reg, 'test/multi', 'latest', [
    { image: amd, platform: { architecture: 'amd64', os: 'linux' } },
    { image: arm, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
  ]);
  // A registry resolves an index's manifests in the same repository: the same image again there.
  const amdHere = await pushTestImage(reg, 'test/multi-docker', 'amd64', { layers: [amdLayer] });
  expect(amdHere.manifestDigest).toBe(amd.manifestDigest);
  await pushIndex(reg, 'test/multi-docker', 'latest', [{ image: amdHere, platform: { architecture: 'amd64', os: 'linux' } }], 'docker');
  const liar = await pushTestImage(reg, 'test/liar', 'latest', { layers: [makeLayer([{ type: 'file', path: 'x', content: 'x' }])], diffIds: [sha256('something else')] });
  expect(liar.id).toMatch(/^sha256:/);
}, 120_000);

afterAll(async () => {
  await reg?.stop();
});

describe.each(actors())('pull as $kind', (actor) => {
  let env: CtrEnv;
  beforeAll(() => {
    env = new CtrEnv(actor);
  });
  afterAll(async () => {
    await env.cleanup();
  });

  const layerDir = (diffId: string) => join(env.root, 'layers', diffId.slice(7), 'diff');

  it('pulls an image and prints its ID; images lists it', async () => {
    const r = await env.ctr(['pull', `${reg.host}/test/base:v1`]);
    expect(r.stderr).toContain(`Trying to pull ${reg.host}/test/base:v1`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(base.id.slice(7));
    const ls = await env.ctr(['images', '--format', '{{.Repository}} {{.Tag}} {{.ID}}']);
    expect(ls.stdout).toContain(`${reg.host}/test/base v1 ${base.id.slice(7, 19)}`);
  });

  it('unpacks files with their real owners, modes and whiteouts', async () => {
    const diff = layerDir(base.diffIds[0]!);
    expect(readFileSync(join(diff, 'etc/os-release'), 'utf8')).toBe('NAME=ctr-test\n');
    const owned = lstatSync(join(diff, 'home/app/owned'));
    expect(owned.uid).toBe(hostId(actor, 1000));
    expect(owned.gid).toBe(hostId(actor, 1000, 'gid'));
    expect(owned.mode & 0o7777).toBe(0o600);
    expect(lstatSync(join(diff, 'bin/tool')).mode & 0o7777).toBe(0o4755);
    expect(lstatSync(join(diff, 'etc')).uid).toBe(hostId(actor, 0));

    const r = await env.ctr(['pull', `${reg.host}/test/app:v1`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/already exists/);
    const wh = lstatSync(join(layerDir(app.diffIds[1]!), 'etc/os-release'));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
  });

  it('pulls zstd layers, Docker media types and by digest', async () => {
    const z = await env.ctr(['pull', '-q', `${reg.host}/test/zstd`]);
    expect(z.code, z.stderr).toBe(0);
    expect(z.stdout.trim()).toBe(zstdImage.id.slice(7));
    expect(z.stderr).toBe('');
    expect(readFileSync(join(layerDir(zstdImage.diffIds[0]!), 'z'), 'utf8')).toBe('zstd!\n');
    const d = await env.ctr(['pull', '-q', `${reg.host}/test/docker@${dockerImage.manifestDigest}`]);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout.trim()).toBe(dockerImage.id.slice(7));
    const digests = await env.ctr(['images', '--digests', '--format', '{{.Repository}} {{.Tag}} {{.Digest}}']);
    expect(digests.stdout).toContain(`${reg.host}/test/docker <none> ${dockerImage.manifestDigest}`);
  });

  it('chooses the platform from a multi-platform index, or the one asked for', async () => {
    const host = await env.ctr(['pull', '-q', `${reg.host}/test/multi`]);
    expect(host.code, host.stderr).toBe(0);
    const arm = await env.ctr(['pull', '-q', '--platform', 'linux/arm64', `${reg.host}/test/multi`]);
    expect(arm.code, arm.stderr).toBe(0);
    expect(arm.stdout).not.toBe(host.stdout);
    const cfg = await env.ctr(['inspect', '--format', '{{.Architecture}}/{{.Variant}}', arm.stdout.trim()]);
    expect(cfg.stdout.trim()).toBe('arm64/v8');
    const list = await env.ctr(['pull', '-q', `${reg.host}/test/multi-docker`]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toBe(host.stdout);
    const none = await env.ctr(['pull', '--platform', 'linux/s390x', `${reg.host}/test/multi`]);
    expect(none.code).toBe(125);
    expect(none.stderr).toMatch(/no image for linux\/s390x.*linux\/amd64.*linux\/arm64/);
  });

  it('inspect shows docker fields; tag, history and rmi work by name and id', async () => {
    const ins = await env.ctr(['inspect', `${reg.host}/test/app:v1`]);
    expect(ins.code, ins.stderr).toBe(0);
    const [obj] = JSON.parse(ins.stdout);
    expect(obj.Id).toBe(app.id);
    expect(obj.RepoTags).toEqual([`${reg.host}/test/app:v1`]);
    expect(obj.RootFS.Layers).toEqual(app.diffIds);
    expect(obj.Config.Labels).toEqual({ team: 'core' });
    expect(obj.Size).toBe(baseLayer.length + appLayer.length);

    expect((await env.ctr(['tag', `${reg.host}/test/app:v1`, 'myapp:2'])).code).toBe(0);
    const tagged = await env.ctr(['images', 'myapp']);
    expect(tagged.stdout).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\n/);
    expect(tagged.stdout).toMatch(new RegExp(`myapp\\s+2\\s+${app.id.slice(7, 19)}`));

    const hist = await env.ctr(['history', '--format', '{{.CreatedBy}}', 'myapp:2']);
    expect(hist.stdout.trim().split('\n')).toEqual(['layer 1', 'layer 0']);

    const filtered = await env.ctr(['images', '--filter', 'label=team=core', '-q']);
    expect(filtered.stdout.trim()).toBe(app.id.slice(7, 19));

    const rmName = await env.ctr(['rmi', 'myapp:2']);
    expect(rmName.stdout).toBe('Untagged: myapp:2\n');
    const rmId = await env.ctr(['rmi', app.id.slice(7, 19)]);
    expect(rmId.code, rmId.stderr).toBe(0);
    expect(rmId.stdout).toContain(`Deleted: ${app.id}`);
    // The app's own layer is gone; the shared base layer stays for test/base.
    expect(existsSync(layerDir(app.diffIds[1]!))).toBe(false);
    expect(existsSync(layerDir(base.diffIds[0]!))).toBe(true);
    const again = await env.ctr(['rmi', 'myapp:2']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/no such image: myapp:2/);
  });

  it('fails with one clear line and exit 125 on bad input, leaving the store as it was', async () => {
    const before = await env.ctr(['images', '-q', '--no-trunc']);
    const layersBefore = readdirSync(join(env.root, 'layers')).sort();
    const cases: [string[], RegExp][] = [
      [['pull', `${reg.host}/test/nothere`], /test\/nothere/],
      [['pull', 'Bad_Name!'], /invalid reference/],
      [['pull', '127.0.0.1:1/x'], /127\.0\.0\.1:1/],
      [['pull', `${reg.host}/test/liar`], /diff_id|does not match|corrupt/],
    ];
    for (const [args, msg] of cases) {
      const r = await env.ctr(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(125);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split('\n').filter((l) => l.startsWith('Error')).length).toBe(1);
    }
    expect((await env.ctr(['images', '-q', '--no-trunc'])).stdout).toBe(before.stdout);
    expect(readdirSync(join(env.root, 'layers')).sort()).toEqual(layersBefore);
    expect(readdirSync(join(env.root, 'layers', '.tmp'))).toEqual([]);
    expect(readdirSync(join(env.root, 'layers', '.trash'))).toEqual([]);
  });

  it('--all-tags pulls every tag of a repository', async () => {
    const r = await env.ctr(['pull', '-q', '--all-tags', `${reg.host}/test/base`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${base.id.slice(7)}\n${base.id.slice(7)}\n`);
    const tags = await env.ctr(['images', '--format', '{{.Tag}}', `${reg.host}/test/base`]);
    expect(tags.stdout.split('\n').filter(Boolean).sort()).toEqual(['v1', 'v2']);
    const bad = await env.ctr(['pull', '--all-tags', `${reg.host}/test/base:v1`]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/without a tag/);
  });

  it('a name taken by another image leaves the old one dangling; image prune removes it and its layers', async () => {
    expect((await env.ctr(['pull', '-q', `${reg.host}/test/zstd`])).code).toBe(0);
    expect((await env.ctr(['tag', `${reg.host}/test/base:v1`, `${reg.host}/test/zstd:latest`])).code).toBe(0);
    const dangling = await env.ctr(['images', '--filter', 'dangling=true', '--format', 'json']);
    const rows = dangling.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((r) => r.ID)).toContain(zstdImage.id.slice(7, 19));
    const prune = await env.ctr(['image', 'prune', '-f']);
    expect(prune.code, prune.stderr).toBe(0);
    expect(prune.stdout).toContain(`deleted: ${zstdImage.id}`);
    expect(prune.stdout).toMatch(/Total reclaimed space: \d/);
    expect(existsSync(layerDir(zstdImage.diffIds[0]!))).toBe(false);
    expect((await env.ctr(['images', '--filter', 'dangling=true', '-q'])).stdout).toBe('');
    expect((await env.ctr(['inspect', '--format', '{{.Id}}', `${reg.host}/test/zstd`])).stdout.trim()).toBe(base.id);
  });

  it('parallel pulls of the same image all succeed and store it once', async () => {
    const fresh = new CtrEnv(actor);
    try {
      const results = await Promise.all([1, 2, 3, 4].map(() => fresh.ctr(['pull', '-q', `${reg.host}/test/app:v1`])));
      for (const r of results) {
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout.trim()).toBe(app.id.slice(7));
      }
      const layers = readdirSync(join(fresh.root, 'layers')).filter((n) => /^[a-f0-9]{64}$/.test(n));
      expect(layers.sort()).toEqual(app.diffIds.map((d) => d.slice(7)).sort());
      expect((await fresh.ctr(['images', '-q'])).stdout.trim().split('\n')).toHaveLength(1);
    } finally {
      await fresh.cleanup();
    }
  });
});
