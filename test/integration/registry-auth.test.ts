import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sha256Digest } from '../../src/image/digest.js';
import { RegistryClient } from '../../src/registry/client.js';
import { RegistryError } from '../../src/registry/errors.js';
import { pushImage, type PushedImage } from '../fixtures/push.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';

const started: TestRegistry[] = [];
let dir: string;

async function registry(opts: Parameters<typeof startRegistry>[0]): Promise<{ reg: TestRegistry; image: PushedImage }> {
  const reg = await startRegistry(opts);
  started.push(reg);
  const image = await pushImage(reg, 'team/app', 'v1', { layers: [Buffer.from('layer one'), Buffer.from('layer two')] });
  return { reg, image };
}

/** Reads the manifest, the config and every layer, as a pull would. */
async function readImage(client: RegistryClient, image: PushedImage): Promise<void> {
  const m = await client.getManifest('team/app', 'v1');
  expect(m.digest).toBe(image.manifestDigest);
  for (const desc of [image.config, ...image.layers]) {
    expect(sha256Digest(await client.getBlobBuffer('team/app', desc))).toBe(desc.digest);
  }
}

async function failure(p: Promise<unknown>): Promise<RegistryError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RegistryError);
  return err as RegistryError;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ctr-registry-auth-'));
});

afterAll(async () => {
  await Promise.all(started.map((r) => r.stop()));
  rmSync(dir, { recursive: true, force: true });
});

// An environment with no stored credentials, so the machine's own files never leak in.
const emptyEnv = (): NodeJS.ProcessEnv => ({ HOME: join(dir, 'nohome'), XDG_RUNTIME_DIR: join(dir, 'norun') });

describe('basic auth (htpasswd)', () => {
  test('the right credentials pull; a wrong password and no credentials are refused with a login hint', async () => {
    const { reg, image } = await registry({ auth: 'basic' });
    const good = new RegistryClient(reg.host, { credentials: { username: reg.username!, password: reg.password! }, env: emptyEnv() });
    await readImage(good, image);
    good.close();

    const wrong = await failure(new RegistryClient(reg.host, { credentials: { username: reg.username!, password: 'wrong' }, env: emptyEnv() }).getManifest('team/app', 'v1'));
    expect(wrong.kind).toBe('unauthorized');
    expect(wrong.message).toBe(`authentication to ${reg.host} failed: the registry rejected the credentials of user tester; run \`ctr login ${reg.host}\``);

    const none = await failure(new RegistryClient(reg.host, { env: emptyEnv() }).getManifest('team/app', 'v1'));
    expect(none.kind).toBe('unauthorized');
    expect(none.message).toBe(`access to ${reg.host}/team/app was denied: the repository does not exist or needs a login; run \`ctr login ${reg.host}\``);
  });

  test('credentials are found in an auth file', async () => {
    const { reg, image } = await registry({ auth: 'basic' });
    const file = join(dir, 'basic-auth.json');
    writeFileSync(file, JSON.stringify({ auths: { [`https://${reg.host}`]: { auth: Buffer.from(`${reg.username}:${reg.password}`).toString('base64') } } }));
    const client = new RegistryClient(reg.host, { authFile: file, env: emptyEnv() });
    await readImage(client, image);
    client.close();

    writeFileSync(file, JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${reg.username}:stale`).toString('base64') } } }));
    const stale = await failure(new RegistryClient(reg.host, { authFile: file, env: emptyEnv() }).getManifest('team/app', 'v1'));
    expect(stale.message).toContain(`rejected the credentials of user tester from ${file}`);
  });
});

describe('bearer tokens', () => {
  test('an anonymous pull gets one token per repository scope and reuses it', async () => {
    const { reg, image } = await registry({ auth: 'token', anonymousPull: true });
    const client = new RegistryClient(reg.host, { env: emptyEnv() });
    await readImage(client, image);
    client.close();
    expect(reg.tokenRequests).toEqual([{ scopes: ['repository:team/app:pull'], user: undefined }]);
  });

  test('with credentials the token server is asked as that user; without them a private registry refuses', async () => {
    const { reg, image } = await registry({ auth: 'token' });
    const client = new RegistryClient(reg.host, { credentials: { username: reg.username!, password: reg.password! }, env: emptyEnv() });
    await readImage(client, image);
    client.close();
    expect(reg.tokenRequests.at(-1)).toEqual({ scopes: ['repository:team/app:pull'], user: 'tester' });

    const none = await failure(new RegistryClient(reg.host, { env: emptyEnv() }).getManifest('team/app', 'v1'));
    expect(none.kind).toBe('unauthorized');
    expect(none.message).toMatch(/needs a login; run `ctr login 127\.0\.0\.1:\d+`$/);

    const wrong = await failure(new RegistryClient(reg.host, { credentials: { username: 'tester', password: 'nope' }, env: emptyEnv() }).getManifest('team/app', 'v1'));
    expect(wrong.kind).toBe('unauthorized');
    expect(wrong.message).toMatch(/^authentication to 127\.0\.0\.1:\d+ failed: the token server http:\/\/127\.0\.0\.1:\d+\/token rejected the credentials of user tester; run `ctr login/);
  });

  test('a ping through the token flow proves the credentials', async () => {
    const { reg } = await registry({ auth: 'token' });
    await new RegistryClient(reg.host, { credentials: { username: reg.username!, password: reg.password! } }).ping();
    const err = await failure(new RegistryClient(reg.host, { credentials: { username: reg.username!, password: 'x' } }).ping());
    expect(err.kind).toBe('unauthorized');
  });
});

describe('TLS', () => {
  test('a registry with a private CA works once the CA is in the cert dir', async () => {
    const { reg, image } = await registry({ tls: true });
    const client = new RegistryClient(reg.host, { certDir: reg.certDir, env: emptyEnv() });
    await readImage(client, image);
    client.close();
  });

  test('without the CA the certificate is refused, with where to put the CA', async () => {
    const { reg } = await registry({ tls: true });
    const certDir = join(dir, 'empty-certs.d');
    const err = await failure(new RegistryClient(reg.host, { certDir, env: emptyEnv() }).getManifest('team/app', 'v1'));
    expect(err.kind).toBe('tls');
    expect(err.message).toMatch(new RegExp(`^the TLS certificate of registry ${reg.host} is not trusted \\(.+\\); put the registry's CA certificate in ${certDir}/${reg.host}/ca\\.crt, or pass --tls-verify=false$`));
  });

  test('--tls-verify=false skips the certificate check', async () => {
    const { reg, image } = await registry({ tls: true, auth: 'basic' });
    const client = new RegistryClient(reg.host, { tlsVerify: false, credentials: { username: reg.username!, password: reg.password! }, env: emptyEnv() });
    await readImage(client, image);
    client.close();
  });

  test('TLS and token auth together', async () => {
    const { reg, image } = await registry({ tls: true, auth: 'token', anonymousPull: true });
    const client = new RegistryClient(reg.host, { certDir: reg.certDir, env: emptyEnv() });
    await readImage(client, image);
    client.close();
  });
});
