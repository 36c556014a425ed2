import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushTestImage, type TestImage } from '../fixtures/images.js';
import { makeLayer } from '../fixtures/layers.js';
import { startProxy } from '../fixtures/proxy.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { actors, CtrEnv } from '../helpers/ctr.js';

let reg: TestRegistry;
let secure: TestRegistry;
let tokens: TestRegistry;
let big: TestImage;
let small: TestImage;

/** Incompressible content, so that sizes on the wire and on disk are what the test says. */
const noise = (n: number) => randomBytes(n);

beforeAll(async () => {
  [reg, secure, tokens] = await Promise.all([startRegistry(), startRegistry({ auth: 'basic', tls: true }), startRegistry({ auth: 'token', anonymousPull: true })]);
  big = await pushTestImage(reg, 'test/big', 'latest', {
    layers: [makeLayer([{ type: 'file', path: 'a', content: noise(3_000_000) }]), makeLayer([{ type: 'file', path: 'b', content: noise(3_000_000) }])],
  });
  small = await pushTestImage(reg, 'test/small', 'latest', { layers: [makeLayer([{ type: 'file', path: 'hello', content: 'hello\n' }])] });
  await pushTestImage(secure, 'private/app', 'v1', { layers: [makeLayer([{ type: 'file', path: 'secret', content: 'shh\n' }])] });
  await pushTestImage(tokens, 'library/public', 'latest', { layers: [makeLayer([{ type: 'file', path: 'pub', content: 'pub\n' }])] });
}, 120_000);

afterAll(async () => {
  await Promise.all([reg?.stop(), secure?.stop(), tokens?.stop()]);
});

describe.each(actors())('pull failures and registries as $kind', (actor) => {
  let env: CtrEnv;
  beforeAll(() => {
    env = new CtrEnv(actor);
  });
  afterAll(async () => {
    await env.cleanup();
  });

  /** Nothing half-written: no image, no layer directory, nothing in the temp or trash dirs. */
  function expectEmptyStore(root: string): void {
    const layers = join(root, 'layers');
    if (!existsSync(layers)) return;
    expect(readdirSync(layers).filter((n) => /^[a-f0-9]{64}$/.test(n))).toEqual([]);
    expect(readdirSync(join(layers, '.tmp'))).toEqual([]);
    expect(readdirSync(join(layers, '.trash'))).toEqual([]);
    const images = join(root, 'images.json');
    if (existsSync(images)) expect(JSON.parse(readFileSync(images, 'utf8')).images).toEqual([]);
  }

  it('resumes a blob download after the connection drops', async () => {
    // The first blob request is the small config, which a cut never reaches: three cuts hit both layers.
    const proxy = await startProxy(reg, { cutAfterBytes: 500_000, cuts: 3 });
    const fresh = new CtrEnv(actor);
    try {
      const r = await fresh.ctr(['pull', '-q', `${proxy.host}/test/big`]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(big.id.slice(7));
      expect(proxy.blobRequests.some((b) => b.range?.startsWith('bytes=')), JSON.stringify(proxy.blobRequests)).toBe(true);
    } finally {
      await proxy.stop();
      await fresh.cleanup();
    }
  });

  it('refuses corrupt and truncated blobs with one line and leaves nothing', async () => {
    for (const rules of [{ corrupt: true }, { truncateTo: 1000 }]) {
      const proxy = await startProxy(reg, rules);
      const fresh = new CtrEnv(actor);
      try {
        const r = await fresh.ctr(['pull', `${proxy.host}/test/big`]);
        expect(r.code, r.stderr).toBe(125);
        expect(r.stderr).toMatch(/sha256:[0-9a-f]{12}/);
        expect(r.stderr.split('\n').filter((l) => l.startsWith('Error:'))).toHaveLength(1);
        expectEmptyStore(fresh.root);
      } finally {
        await proxy.stop();
        await fresh.cleanup();
      }
    }
  });

  it('rmi of an image while a pull of another that shares its layer is under way: the pulled image keeps the layer', async () => {
    const shared = makeLayer([{ type: 'file', path: 'shared', content: noise(100_000) }]);
    const a = await pushTestImage(reg, `test/shared-a-${actor.kind}`, 'latest', { layers: [shared] });
    const b = await pushTestImage(reg, `test/shared-b-${actor.kind}`, 'latest', { layers: [shared, makeLayer([{ type: 'file', path: 'own', content: 'b\n' }])] });
    let release!: () => void;
    const proxy = await startProxy(reg, { holdBlob: { digest: b.layers[1]!.digest, until: new Promise<void>((r) => (release = r)) } });
    const fresh = new CtrEnv(actor);
    try {
      expect((await fresh.ctr(['pull', '-q', `${reg.host}/test/shared-a-${actor.kind}`])).code).toBe(0);
      const pull = fresh.spawnCtr(['pull', '-q', `${proxy.host}/test/shared-b-${actor.kind}`]);
      const pulled = new Promise<number | null>((resolve) => pull.on('exit', resolve));
      // The shared layer is already there; the pull now waits for its own layer.
      for (let i = 0; i < 400 && !proxy.blobRequests.some((r) => r.path.endsWith(b.layers[1]!.digest)); i++) await sleep(25);
      const rmi = fresh.ctr(['rmi', a.id.slice(7)]);
      await Promise.race([rmi, sleep(1000)]);
      release();
      expect(await pulled).toBe(0);
      expect((await rmi).code).toBe(0);
      const saved = await fresh.ctr(['save', '-o', join(fresh.dir, 'b.tar'), `${proxy.host}/test/shared-b-${actor.kind}`]);
      expect(saved.code, saved.stderr).toBe(0);
      expect((await fresh.ctr(['images', '-q', '--no-trunc'])).stdout.trim()).toBe(b.id);
    } finally {
      release();
      await proxy.stop();
      await fresh.cleanup();
    }
  });

  it('two pulls at once of images that share layers (one listed twice), in opposite orders, both finish', async () => {
    const one = makeLayer([{ type: 'file', path: 'one', content: noise(400_000) }]);
    const two = makeLayer([{ type: 'file', path: 'two', content: noise(400_000) }]);
    const a = await pushTestImage(reg, `test/order-a-${actor.kind}`, 'latest', { layers: [one, two, one, makeLayer([{ type: 'file', path: 'a', content: 'a\n' }])] });
    const b = await pushTestImage(reg, `test/order-b-${actor.kind}`, 'latest', { layers: [two, one, makeLayer([{ type: 'file', path: 'b', content: 'b\n' }])] });
    const fresh = new CtrEnv(actor);
    try {
      const [ra, rb] = await Promise.all([
        fresh.ctr(['pull', '-q', `${reg.host}/test/order-a-${actor.kind}`], { timeoutMs: 60_000 }),
        fresh.ctr(['pull', '-q', `${reg.host}/test/order-b-${actor.kind}`], { timeoutMs: 60_000 }),
      ]);
      expect([ra.code, ra.stderr, rb.code, rb.stderr]).toEqual([0, '', 0, '']);
      expect((await fresh.ctr(['images', '-q', '--no-trunc'])).stdout.split('\n').filter(Boolean).sort()).toEqual([a.id, b.id].sort());
    } finally {
      await fresh.cleanup();
    }
  });

  it('a pull killed halfway leaves nothing a later pull trips over', async () => {
    const proxy = await startProxy(reg, { stallAfterBytes: 1_000_000 });
    const fresh = new CtrEnv(actor);
    try {
      const child = fresh.spawnCtr(['pull', `${proxy.host}/test/big`]);
      const exited = new Promise((resolve) => child.on('exit', resolve));
      // Wait until the download has started (a temp layer directory exists), then kill -9.
      const tmp = join(fresh.root, 'layers', '.tmp');
      for (let i = 0; i < 200 && !(existsSync(tmp) && readdirSync(tmp).length > 0); i++) await sleep(25);
      expect(readdirSync(tmp).length).toBeGreaterThan(0);
      child.kill('SIGKILL');
      await exited;
      const again = await fresh.ctr(['pull', '-q', `${reg.host}/test/big`]);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout.trim()).toBe(big.id.slice(7));
      expect(readdirSync(tmp)).toEqual([]);
      expect((await fresh.ctr(['images', '-q'])).stdout.trim()).toBe(big.id.slice(7, 19));
    } finally {
      await proxy.stop();
      await fresh.cleanup();
    }
  });

  it('a full disk fails the pull cleanly', async () => {
    const fresh = new CtrEnv(actor);
    const root = join(fresh.dir, 'small-disk');
    mkdirSync(root);
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=2m,uid=${actor.uid},gid=${actor.gid},mode=0700`, 'ctr-test', root]);
    try {
      const r = await fresh.ctr(['--root', join(root, 'store'), 'pull', `${reg.host}/test/big`]);
      expect(r.code, r.stderr).toBe(125);
      expect(r.stderr).toMatch(/no space|ENOSPC/i);
      expectEmptyStore(join(root, 'store'));
    } finally {
      execFileSync('umount', [root]);
      await fresh.cleanup();
    }
  });

  it('pulls from a registry with basic auth over TLS after ctr login', async () => {
    const image = `${secure.host}/private/app:v1`;
    // The registry's CA, where this actor can read it.
    const certDir = join(env.dir, 'certs.d');
    execFileSync('cp', ['-r', secure.certDir!, certDir]);
    execFileSync('chown', ['-R', `${actor.uid}:${actor.gid}`, certDir]);
    const denied = await env.ctr(['pull', '--cert-dir', certDir, image]);
    expect(denied.code).toBe(125);
    expect(denied.stderr).toMatch(/ctr login/);
    const untrusted = await env.ctr(['pull', image]);
    expect(untrusted.code).toBe(125);
    expect(untrusted.stderr).toMatch(/certificate/i);
    const login = await env.ctr(['login', '--cert-dir', certDir, '-u', secure.username!, '--password-stdin', secure.host], { input: secure.password! });
    expect(login.code, login.stderr).toBe(0);
    const ok = await env.ctr(['pull', '-q', '--cert-dir', certDir, image]);
    expect(ok.code, ok.stderr).toBe(0);
    const creds = await env.ctr(['pull', '-q', '--cert-dir', certDir, '--authfile', '/nonexistent/auth.json', '--creds', `${secure.username}:${secure.password}`, image]);
    expect(creds.code, creds.stderr).toBe(0);
  });

  it('pulls anonymously with bearer tokens (Docker Hub flow)', async () => {
    const r = await env.ctr(['pull', '-q', `${tokens.host}/library/public`]);
    expect(r.code, r.stderr).toBe(0);
    expect(tokens.tokenRequests.length).toBeGreaterThan(0);
    expect(tokens.tokenRequests.every((t) => t.user === undefined)).toBe(true);
  });

  it('stores the same manifest and config blobs that skopeo copy fetches', async () => {
    const r = await env.ctr(['pull', '-q', `${reg.host}/test/small`]);
    expect(r.code, r.stderr).toBe(0);
    const oci = join(env.dir, 'skopeo-oci');
    execFileSync('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${reg.host}/test/small:latest`, `oci:${oci}:latest`]);
    const index = JSON.parse(readFileSync(join(oci, 'index.json'), 'utf8'));
    const manifestDigest: string = index.manifests[0].digest;
    const blob = (dir: string, d: string) => readFileSync(join(dir, d.replace(':', '/')));
    expect(blob(join(env.root, 'blobs'), manifestDigest)).toEqual(blob(join(oci, 'blobs'), manifestDigest));
    const manifest = JSON.parse(blob(join(oci, 'blobs'), manifestDigest).toString());
    expect(manifest.config.digest).toBe(small.id);
    expect(blob(join(env.root, 'blobs'), small.id)).toEqual(blob(join(oci, 'blobs'), small.id));
  });
});
