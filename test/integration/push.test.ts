import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actors, CtrEnv } from '../helpers/ctr.js';
import { sha256 } from '../fixtures/images.js';
import { makeLayer } from '../fixtures/layers.js';
import { startProxy, type Proxy } from '../fixtures/proxy.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { busyboxLayer, pushRunImage, usersLayer } from '../fixtures/run-images.js';

// source: where images are pulled from; other: a second registry (behind a proxy that counts
// requests); basic/token: the two kinds of authentication.
let source: TestRegistry;
let other: TestRegistry;
let counted: Proxy;
let basic: TestRegistry;
let token: TestRegistry;
let base: string;
let baseId: string;

beforeAll(async () => {
  [source, other, basic, token] = await Promise.all([startRegistry(), startRegistry(), startRegistry({ auth: 'basic' }), startRegistry({ auth: 'token' })]);
  counted = await startProxy(other);
  baseId = await pushRunImage(source, 'test/base', '1', [busyboxLayer(), usersLayer()], { Cmd: ['sh'] });
  base = `${source.host}/test/base:1`;
}, 60_000);

afterAll(async () => {
  await counted?.stop();
  await Promise.all([source, other, basic, token].map((r) => r?.stop()));
});

/** What skopeo, an independent client, reads back (asynchronously: the token server runs in this process). */
async function inspectRaw(ref: string, extra: string[] = []): Promise<{ digest: string; size: number; manifest: { mediaType: string; config: { mediaType: string; digest: string }; layers: { mediaType: string; digest: string; size: number }[] } }> {
  const { stdout: raw } = await promisify(execFile)('skopeo', ['inspect', '--raw', '--tls-verify=false', ...extra, `docker://${ref}`], { encoding: 'buffer' });
  return { digest: sha256(raw), size: raw.length, manifest: JSON.parse(raw.toString()) };
}

/** Everything in the store that a failed push must leave as it was. */
function storeState(env: CtrEnv): string {
  const layers = join(env.root, 'layers');
  const records = readdirSync(layers)
    .filter((n) => /^[a-f0-9]{64}$/.test(n))
    .sort()
    .map((n) => readFileSync(join(layers, n, 'layer.json'), 'utf8'));
  return [readFileSync(join(env.root, 'images.json'), 'utf8'), ...records].join('\n');
}

const uploads = (p: Proxy) => p.requests.filter((r) => r.method !== 'HEAD' && r.method !== 'GET' && !/\/manifests\//.test(r.path));

describe.each(actors())('push as $kind', (actor) => {
  let env: CtrEnv;
  const fresh: CtrEnv[] = [];
  const freshEnv = () => {
    const e = new CtrEnv(actor);
    fresh.push(e);
    return e;
  };
  beforeAll(async () => {
    env = new CtrEnv(actor);
    const pulled = await env.ctr(['pull', '-q', base]);
    expect(pulled.code, pulled.stderr).toBe(0);
  });
  afterAll(async () => {
    await env.cleanup();
    for (const e of fresh) await e.cleanup();
  });

  it('keeps a pulled image byte for byte: mounted in the same registry, copied to another, and a fresh pull gets the same image', async () => {
    const original = await inspectRaw(base);
    const mounted = await env.ctr(['push', base, `${source.host}/${actor.kind}/mounted:1`]);
    expect(mounted.code, mounted.stderr).toBe(0);
    expect(mounted.stderr).toContain('mounted from test/base');
    expect(mounted.stdout).toBe(`1: digest: ${original.digest} size: ${original.size}\n`);
    expect((await inspectRaw(`${source.host}/${actor.kind}/mounted:1`)).digest).toBe(original.digest);

    const digestFile = join(env.dir, 'pushed.digest');
    const copied = await env.ctr(['push', '--digestfile', digestFile, base, `${counted.host}/${actor.kind}/copy:2`]);
    expect(copied.code, copied.stderr).toBe(0);
    expect(copied.stderr).not.toContain('Note:');
    expect((await inspectRaw(`${other.host}/${actor.kind}/copy:2`)).digest).toBe(original.digest);
    expect(readFileSync(digestFile, 'utf8')).toBe(original.digest);

    const repoDigests = await env.ctr(['image', 'inspect', '--format', '{{json .RepoDigests}}', base]);
    expect(JSON.parse(repoDigests.stdout)).toEqual(expect.arrayContaining([`${counted.host}/${actor.kind}/copy@${original.digest}`]));

    const empty = freshEnv();
    const pulled = await empty.ctr(['pull', '-q', `${other.host}/${actor.kind}/copy:2`]);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.stdout.trim()).toBe(baseId.slice(7));
  });

  it('a second push of the same image uploads no blob', async () => {
    const ref = `${counted.host}/${actor.kind}/again:1`;
    const first = await env.ctr(['push', base, ref]);
    expect(first.code, first.stderr).toBe(0);
    const before = counted.requests.length;
    const second = await env.ctr(['push', base, ref]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr.match(/skipped: already exists/g)).toHaveLength(3);
    const seen = counted.requests.slice(before);
    expect(uploads({ ...counted, requests: seen })).toEqual([]);
    expect(seen.filter((r) => r.method === 'PUT').map((r) => r.path)).toEqual([`/v2/${actor.kind}/again/manifests/1`]);
  });

  it('--format docker and --compression-format zstd write what skopeo reads back, and the zstd image runs', async () => {
    const original = await inspectRaw(base);
    const docker = await env.ctr(['push', '--format', 'docker', base, `${other.host}/${actor.kind}/docker:1`]);
    expect(docker.code, docker.stderr).toBe(0);
    const d = await inspectRaw(`${other.host}/${actor.kind}/docker:1`);
    expect(d.manifest.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(d.manifest.config.mediaType).toBe('application/vnd.docker.container.image.v1+json');
    expect(d.manifest.config.digest).toBe(baseId);
    // Same blobs, only the types change: the layers are not compressed again.
    expect(d.manifest.layers.map((l) => [l.mediaType, l.digest])).toEqual(original.manifest.layers.map((l) => ['application/vnd.docker.image.rootfs.diff.tar.gzip', l.digest]));
    expect(docker.stderr).toContain(`so its digest is ${d.digest}`);

    const zstdRef = `${other.host}/${actor.kind}/zstd:1`;
    const zstd = await env.ctr(['push', '--compression-format', 'zstd', base, zstdRef]);
    expect(zstd.code, zstd.stderr).toBe(0);
    const z = await inspectRaw(zstdRef);
    expect(z.manifest.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(z.manifest.layers.map((l) => l.mediaType)).toEqual(['application/vnd.oci.image.layer.v1.tar+zstd', 'application/vnd.oci.image.layer.v1.tar+zstd']);
    expect(zstd.stderr).toContain('compressed with zstd as asked');

    const empty = freshEnv();
    const pulled = await empty.ctr(['pull', '-q', zstdRef]);
    expect(pulled.stdout.trim(), pulled.stderr).toBe(baseId.slice(7));
    const ran = await empty.ctr(['run', '--rm', zstdRef, 'cat', '/usr/bin/hello']);
    expect(ran.stdout, ran.stderr).toBe('#!/bin/sh\necho "hello $*"\n');

    const both = await env.ctr(['push', '--format', 'docker', '--compression-format', 'zstd', base, zstdRef]);
    expect([both.code, both.stderr]).toEqual([125, 'Error: zstd layers need --format oci: the Docker v2 schema 2 format has no zstd layer type\n']);
  });

  it('compresses the layers again when the registry they came from is gone, and the image still pulls and runs', async () => {
    const gone = await startRegistry();
    const unique = makeLayer([{ type: 'file', path: 'etc/unique', content: randomBytes(8).toString('hex'), mode: 0o644 }]);
    const id = await pushRunImage(gone, 'test/gone', '1', [busyboxLayer(), usersLayer(), unique], { Cmd: ['sh'] });
    const own = freshEnv();
    const pulled = await own.ctr(['pull', '-q', `${gone.host}/test/gone:1`]);
    expect(pulled.code, pulled.stderr).toBe(0);
    const originalDigest = (await inspectRaw(`${gone.host}/test/gone:1`)).digest;
    await gone.stop();

    const ref = `${other.host}/${actor.kind}/recompressed:1`;
    const pushed = await own.ctr(['push', '--digestfile', join(own.dir, 'digest'), `${gone.host}/test/gone:1`, ref]);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stderr).toContain('3 of 3 layers compressed again because their original blobs could not be reached');
    const r = await inspectRaw(ref);
    expect(r.digest).not.toBe(originalDigest);
    expect(readFileSync(join(own.dir, 'digest'), 'utf8')).toBe(r.digest);
    expect(r.manifest.layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar+gzip')).toBe(true);

    const again = await own.ctr(['push', `${gone.host}/test/gone:1`, ref]);
    expect(again.stdout).toBe(`1: digest: ${r.digest} size: ${r.size}\n`);
    expect(again.stderr.match(/skipped: already exists/g)).toHaveLength(4);

    const empty = freshEnv();
    const fetched = await empty.ctr(['pull', '-q', ref]);
    expect(fetched.stdout.trim(), fetched.stderr).toBe(id.slice(7));
    const ran = await empty.ctr(['run', '--rm', ref, 'sh', '-c', 'cat /etc/unique; id -un']);
    expect(ran.stdout, ran.stderr).toMatch(/^[0-9a-f]{16}root\n$/);
  });

  it('pushes with basic auth and with token auth, mounting across repositories with a token for both', async () => {
    for (const reg of [basic, token]) {
      const creds = `--creds=${reg.username}:${reg.password}`;
      const ref = `${reg.host}/${actor.kind}/app:1`;
      const pushed = await env.ctr(['push', creds, base, ref]);
      expect(pushed.code, pushed.stderr).toBe(0);
      const inspected = await inspectRaw(ref, [creds]);
      expect(inspected.digest).toBe((await inspectRaw(base)).digest);
      const mounted = await env.ctr(['push', creds, base, `${reg.host}/${actor.kind}/mounted:1`]);
      expect(mounted.code, mounted.stderr).toBe(0);
      expect(mounted.stderr).toContain(`mounted from ${actor.kind}/app`);
    }
  });

  it('refuses bad input with one sentence and exit 125, leaving the store as it was', async () => {
    const before = storeState(env);
    const cases: [string[], RegExp][] = [
      [['push', `${source.host}/no/such:1`, `${other.host}/x/y:1`], /^Error: no such image: .*no\/such:1/],
      [['push', base, `${other.host}/Upper/case:1`], /^Error: invalid reference .*lowercase/],
      [['push', base, `${other.host}/x/y@sha256:${'a'.repeat(64)}`], /^Error: cannot push to .*a destination names a tag, not a digest/],
      [['push', baseId.slice(7, 19)], /^Error: .* names no repository; give a destination/],
      [['push', '--format', 'v3', base, `${other.host}/x/y:1`], /^Error: --format takes oci or docker, not "v3"/],
      [['push', `--creds=${basic.username}:wrong`, base, `${basic.host}/${actor.kind}/denied:1`], /^Error: push .*: authentication to 127\.0\.0\.1:\d+ failed: the registry rejected the credentials of user tester/],
      [['push', base, `${token.host}/${actor.kind}/anonymous:1`], /^Error: push .*: access to 127\.0\.0\.1:\d+\/.* was denied/],
    ];
    // Progress lines may come first; the error is one line, the last.
    const error = (stderr: string) => stderr.trim().split('\n').filter((l) => !/^(Pushing|Copying|Writing)/.test(l));
    for (const [args, message] of cases) {
      const r = await env.ctr(args);
      expect(r.code, r.stderr).toBe(125);
      expect(error(r.stderr), r.stderr).toHaveLength(1);
      expect(error(r.stderr)[0]).toMatch(message);
    }

    const rejecting = await startProxy(other, { rejectManifestPuts: true });
    try {
      const r = await env.ctr(['push', base, `${rejecting.host}/${actor.kind}/rejected:1`]);
      expect(r.code).toBe(125);
      expect(error(r.stderr)).toEqual([expect.stringMatching(/^Error: push .*rejected:1: registry .* answered PUT \/v2\/.*\/manifests\/1 with 400 Bad Request \(MANIFEST_INVALID: manifest invalid\)$/)]);
    } finally {
      await rejecting.stop();
    }
    expect(storeState(env)).toBe(before);
    expect(existsSync(join(env.root, 'tmp')) ? readdirSync(join(env.root, 'tmp')) : []).toEqual([]);
  });
});
