import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import {
  authFilesToRead,
  authFileToWrite,
  findCredentials,
  normalizeRegistryKey,
  removeAllCredentials,
  removeCredentials,
  storeCredentials,
} from '../../src/registry/auth-file.js';

let dir: string;
let env: NodeJS.ProcessEnv;

function b64(s: string): string {
  return Buffer.from(s).toString('base64');
}

function write(path: string, content: unknown): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ctr-authfile-'));
  env = { HOME: join(dir, 'home'), XDG_RUNTIME_DIR: join(dir, 'run') };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('registry names in auth files', () => {
  test('docker-style keys name the same registry as plain hosts', () => {
    expect(normalizeRegistryKey('https://index.docker.io/v1/')).toBe('docker.io');
    expect(normalizeRegistryKey('registry-1.docker.io')).toBe('docker.io');
    expect(normalizeRegistryKey('https://127.0.0.1:5000')).toBe('127.0.0.1:5000');
    expect(normalizeRegistryKey('http://registry.example:5000/v2/')).toBe('registry.example:5000');
  });
});

describe('reading credentials', () => {
  test('files are read in order: explicit, runtime dir, config home, docker config', () => {
    expect(authFilesToRead({ env, authFile: '/x/auth.json' })).toEqual([
      '/x/auth.json',
      join(dir, 'run/containers/auth.json'),
      join(dir, 'home/.config/containers/auth.json'),
      join(dir, 'home/.docker/config.json'),
    ]);
    expect(authFilesToRead({ env: { ...env, REGISTRY_AUTH_FILE: '/y.json', XDG_CONFIG_HOME: '/cfg', DOCKER_CONFIG: '/dk' } })).toEqual([
      '/y.json',
      join(dir, 'run/containers/auth.json'),
      '/cfg/containers/auth.json',
      '/dk/config.json',
    ]);
  });

  test('the first file that knows the registry wins', async () => {
    write(join(dir, 'home/.docker/config.json'), { auths: { 'https://index.docker.io/v1/': { auth: b64('docker:one') } } });
    expect(await findCredentials('docker.io', { env })).toMatchObject({ credentials: { username: 'docker', password: 'one' } });
    write(join(dir, 'home/.config/containers/auth.json'), { auths: { 'docker.io': { auth: b64('podman:two') } } });
    expect((await findCredentials('docker.io', { env })).credentials).toEqual({ username: 'podman', password: 'two' });
    write(join(dir, 'run/containers/auth.json'), { auths: { 'docker.io': { auth: b64('runtime:three') } } });
    expect((await findCredentials('docker.io', { env })).credentials).toEqual({ username: 'runtime', password: 'three' });
    write(join(dir, 'explicit.json'), { auths: { 'docker.io': { auth: b64('explicit:four') } } });
    const found = await findCredentials('docker.io', { env, authFile: join(dir, 'explicit.json') });
    expect(found).toEqual({ credentials: { username: 'explicit', password: 'four' }, source: join(dir, 'explicit.json') });
  });

  test('passwords may contain colons, and old username/password entries are read', async () => {
    write(join(dir, 'home/.docker/config.json'), { auths: { 'https://r.example:5000': { auth: b64('u:p:a:ss') }, other: { username: 'a', password: 'b' } } });
    expect((await findCredentials('r.example:5000', { env })).credentials).toEqual({ username: 'u', password: 'p:a:ss' });
    expect((await findCredentials('other', { env })).credentials).toEqual({ username: 'a', password: 'b' });
  });

  test('no files and unknown registries give no credentials', async () => {
    expect(await findCredentials('quay.io', { env })).toEqual({});
    write(join(dir, 'home/.docker/config.json'), { auths: { 'docker.io': { auth: b64('a:b') } } });
    expect(await findCredentials('quay.io', { env })).toEqual({});
  });

  test('a credential helper for the registry is reported as unsupported, not silently ignored', async () => {
    write(join(dir, 'home/.docker/config.json'), { credHelpers: { 'gcr.io': 'gcloud' } });
    const found = await findCredentials('gcr.io', { env });
    expect(found.credentials).toBeUndefined();
    expect(found.unsupported).toMatch(/docker-credential-gcloud.*ctr login gcr\.io/);
  });

  test('a broken auth file is named in the error', async () => {
    write(join(dir, 'home/.config/containers/auth.json'), '{ not json');
    await expect(findCredentials('docker.io', { env })).rejects.toThrow(/cannot parse auth file .*containers\/auth\.json/);
  });
});

describe('writing credentials', () => {
  test('login writes the config-home auth.json with mode 0600 and keeps other entries', async () => {
    const file = authFileToWrite({ env });
    expect(file).toBe(join(dir, 'home/.config/containers/auth.json'));
    write(file, { auths: { 'quay.io': { auth: b64('q:q') }, 'https://127.0.0.1:5000': { auth: b64('old:old') } }, other: 1 });
    expect(await storeCredentials('127.0.0.1:5000', { username: 'new', password: 'pw' }, { env })).toBe(file);
    const content = JSON.parse(readFileSync(file, 'utf8'));
    expect(content).toEqual({ auths: { 'quay.io': { auth: b64('q:q') }, '127.0.0.1:5000': { auth: b64('new:pw') } }, other: 1 });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect((await findCredentials('127.0.0.1:5000', { env })).credentials).toEqual({ username: 'new', password: 'pw' });
  });

  test('an explicit auth file is the one written, created with its directories', async () => {
    const file = join(dir, 'deep/dir/auth.json');
    await storeCredentials('docker.io', { username: 'u', password: 'p' }, { env, authFile: file });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ auths: { 'docker.io': { auth: b64('u:p') } } });
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  test('logout removes every spelling of the registry and nothing else; --all empties the map', async () => {
    const file = authFileToWrite({ env });
    write(file, { auths: { 'docker.io': { auth: b64('a:a') }, 'https://index.docker.io/v1/': { auth: b64('b:b') }, 'quay.io': { auth: b64('q:q') } } });
    expect(await removeCredentials('docker.io', { env })).toEqual({ file, removed: ['docker.io'] });
    expect(JSON.parse(readFileSync(file, 'utf8')).auths).toEqual({ 'quay.io': { auth: b64('q:q') } });
    expect((await removeCredentials('docker.io', { env })).removed).toEqual([]);
    expect((await removeAllCredentials({ env })).removed).toEqual(['quay.io']);
    expect(JSON.parse(readFileSync(file, 'utf8')).auths).toEqual({});
  });
});
