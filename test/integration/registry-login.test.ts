import { chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { actors, CtrEnv, type Actor } from '../helpers/ctr.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';

let basic: TestRegistry;
let token: TestRegistry;

beforeAll(async () => {
  [basic, token] = await Promise.all([startRegistry({ auth: 'basic' }), startRegistry({ auth: 'token', tls: true })]);
});

afterAll(async () => {
  await Promise.all([basic?.stop(), token?.stop()]);
});

function b64(s: string): string {
  return Buffer.from(s).toString('base64');
}

describe.each(actors())('login and logout as $kind', (actor: Actor) => {
  let env: CtrEnv;
  let authFile: string;

  beforeEach(() => {
    env = new CtrEnv(actor);
    authFile = join(env.home, '.config/containers/auth.json');
  });
  afterEach(async () => {
    await env.cleanup();
  });

  test('login stores working credentials with mode 0600; logout removes them', async () => {
    const login = await env.ctr(['login', '-u', basic.username!, '--password-stdin', basic.host], { input: `${basic.password}\n` });
    expect(login.stderr).toBe('');
    expect(login.stdout).toBe('Login Succeeded!\n');
    expect(login.code).toBe(0);
    const st = statSync(authFile);
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.uid).toBe(actor.uid);
    expect(JSON.parse(readFileSync(authFile, 'utf8')).auths).toEqual({ [basic.host]: { auth: b64(`${basic.username}:${basic.password}`) } });

    const again = await env.ctr(['login', basic.host]);
    expect(again.stdout).toBe(`Existing credentials are valid. Already logged in to ${basic.host}\n`);
    expect(again.code).toBe(0);

    const logout = await env.ctr(['logout', basic.host]);
    expect(logout.stdout).toBe(`Removed login credentials for ${basic.host}\n`);
    expect(logout.code).toBe(0);
    expect(JSON.parse(readFileSync(authFile, 'utf8')).auths).toEqual({});

    const twice = await env.ctr(['logout', basic.host]);
    expect(twice.code).toBe(125);
    expect(twice.stderr).toBe(`Error: not logged in to ${basic.host} (no credentials for it in ${authFile})\n`);
  });

  test('a wrong password is refused and nothing is stored', async () => {
    const r = await env.ctr(['login', '-u', basic.username!, '--password-stdin', basic.host], { input: 'wrong' });
    expect(r.code).toBe(125);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`Error: login to ${basic.host} failed: the registry rejected the username ${basic.username} or its password\n`);
    expect(existsSync(authFile)).toBe(false);
  });

  test('token auth over TLS with a cert dir, -p and an explicit --authfile', async () => {
    const certDir = join(env.dir, 'certs.d');
    mkdirSync(join(certDir, token.host), { recursive: true });
    copyFileSync(token.caCertPath!, join(certDir, token.host, 'ca.crt'));
    if (actor.uid !== process.getuid?.()) chownSync(certDir, actor.uid, actor.gid);
    const file = join(env.dir, 'my-auth.json');

    const untrusted = await env.ctr(['login', '-u', token.username!, '--password-stdin', token.host], { input: token.password! });
    expect(untrusted.code).toBe(125);
    expect(untrusted.stderr).toMatch(new RegExp(`^Error: the TLS certificate of registry ${token.host} is not trusted .*--tls-verify=false\\n$`));

    const r = await env.ctr(['login', '--cert-dir', certDir, '--authfile', file, '-u', token.username!, '-p', token.password!, token.host]);
    expect(r.stdout).toBe('Login Succeeded!\n');
    expect(r.stderr).toBe('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(existsSync(authFile)).toBe(false);

    const bad = await env.ctr(['login', '--cert-dir', certDir, '-u', token.username!, '--password-stdin', token.host], { input: 'nope\n' });
    expect(bad.code).toBe(125);
    expect(bad.stderr).toBe(`Error: login to ${token.host} failed: the registry rejected the username ${token.username} or its password\n`);

    const out = await env.ctr(['logout', '--authfile', file, token.host]);
    expect(out.stdout).toBe(`Removed login credentials for ${token.host}\n`);
    expect(JSON.parse(readFileSync(file, 'utf8')).auths).toEqual({});
  });

  test('without credentials and without a terminal, login says what to pass', async () => {
    const r = await env.ctr(['login', basic.host]);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe(`Error: logging in to ${basic.host} needs a username and a password: pass --username and --password-stdin\n`);
    const noUser = await env.ctr(['login', '--password-stdin', basic.host], { input: 'x' });
    expect(noUser.stderr).toBe('Error: --password-stdin needs --username, since standard input holds the password\n');
  });

  test('logout --all forgets every registry and keeps the file', async () => {
    for (const reg of [basic]) {
      const r = await env.ctr(['login', '-u', reg.username!, '--password-stdin', reg.host], { input: reg.password! });
      expect(r.code).toBe(0);
    }
    const r = await env.ctr(['logout', '--all']);
    expect(r.stdout).toBe('Removed login credentials for all registries\n');
    expect(JSON.parse(readFileSync(authFile, 'utf8'))).toEqual({ auths: {} });
  });
});
