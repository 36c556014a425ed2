import { open, mkdir, readFile, rename, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { randomHex } from '../random.js';
import { CtrError, errnoCode, errorMessage } from '../errors.js';

export interface Credentials {
  username: string;
  password: string;
}

/** Where to look for auth files; tests pass their own environment. */
export interface AuthFileOptions {
  /** An explicit file (--authfile); read first and written instead of the default. */
  authFile?: string;
  env?: NodeJS.ProcessEnv;
}

export interface CredentialLookup {
  credentials?: Credentials;
  /** The file the credentials came from. */
  source?: string;
  /** Set when a file delegates this host to a credential helper, which ctr does not run. */
  unsupported?: string;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  [key: string]: unknown;
}

interface AuthFileContent {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
  [key: string]: unknown;
}

const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/**
 * The registry a key or a user's argument names: "https://index.docker.io/v1/" -> "docker.io",
 * "https://HOST:PORT/v2/" -> "HOST:PORT". Lower-cases nothing but the Docker Hub aliases.
 */
export function normalizeRegistryKey(key: string): string {
  let k = key.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = k.indexOf('/');
  if (slash >= 0) k = k.slice(0, slash);
  if (DOCKER_HUB_ALIASES.has(k.toLowerCase())) return 'docker.io';
  return k;
}

function userHome(env: NodeJS.ProcessEnv): string {
  return env.HOME || homedir();
}

function configHome(env: NodeJS.ProcessEnv): string {
  return env.XDG_CONFIG_HOME || join(userHome(env), '.config');
}

function explicitFile(opts: AuthFileOptions): string | undefined {
  const env = opts.env ?? process.env;
  return opts.authFile || env.REGISTRY_AUTH_FILE || undefined;
}

/** The files read for credentials, most important first. */
export function authFilesToRead(opts: AuthFileOptions = {}): string[] {
  const env = opts.env ?? process.env;
  const files: string[] = [];
  const explicit = explicitFile(opts);
  if (explicit) files.push(explicit);
  if (env.XDG_RUNTIME_DIR) files.push(join(env.XDG_RUNTIME_DIR, 'containers/auth.json'));
  else if (process.getuid?.() === 0) files.push('/run/containers/0/auth.json');
  files.push(join(configHome(env), 'containers/auth.json'));
  files.push(join(env.DOCKER_CONFIG || join(userHome(env), '.docker'), 'config.json'));
  return [...new Set(files)];
}

/** The file `ctr login` writes: the explicit one, else containers' auth.json in the config home. */
export function authFileToWrite(opts: AuthFileOptions = {}): string {
  return explicitFile(opts) ?? join(configHome(opts.env ?? process.env), 'containers/auth.json');
}

async function readAuthFile(file: string): Promise<AuthFileContent | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new CtrError(`cannot read auth file ${file}: ${errorMessage(err)}`);
  }
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CtrError(`cannot parse auth file ${file}: ${errorMessage(err)}; fix or remove it`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new CtrError(`cannot parse auth file ${file}: expected a JSON object with an "auths" map; fix or remove it`);
  }
  return parsed as AuthFileContent;
}

function decodeEntry(entry: AuthEntry, file: string, key: string): Credentials | undefined {
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new CtrError(`auth file ${file} has a malformed "auth" value for ${key}: expected base64 of "user:password"`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string') {
    return { username: entry.username, password: entry.password };
  }
  return undefined;
}

function keysFor(content: AuthFileContent, host: string): string[] {
  const wanted = normalizeRegistryKey(host);
  return Object.keys(content.auths ?? {}).filter((k) => {
    if (normalizeRegistryKey(k) !== wanted) return false;
    // Keys with a repository path scope credentials to that repository; ctr keeps one login per registry.
    const path = k.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split('/').slice(1).filter((p) => p !== '');
    return path.length === 0 || (path.length === 1 && /^v[12]$/.test(path[0]!));
  });
}

/** Finds stored credentials for a registry host ("docker.io", "127.0.0.1:5000"). */
export async function findCredentials(host: string, opts: AuthFileOptions = {}): Promise<CredentialLookup> {
  const wanted = normalizeRegistryKey(host);
  let unsupported: string | undefined;
  for (const file of authFilesToRead(opts)) {
    const content = await readAuthFile(file);
    if (!content) continue;
    for (const key of keysFor(content, wanted)) {
      const creds = decodeEntry(content.auths![key]!, file, key);
      if (creds) return { credentials: creds, source: file };
    }
    const helperKey = Object.keys(content.credHelpers ?? {}).find((k) => normalizeRegistryKey(k) === wanted);
    if (!unsupported && helperKey) {
      unsupported = `${file} hands the credentials for ${wanted} to docker-credential-${content.credHelpers![helperKey]}, and ctr does not run credential helpers; run \`ctr login ${wanted}\` to store them in ${authFileToWrite(opts)}`;
    } else if (!unsupported && content.credsStore && keysFor(content, wanted).length > 0) {
      unsupported = `${file} keeps the credentials for ${wanted} in docker-credential-${content.credsStore}, and ctr does not run credential helpers; run \`ctr login ${wanted}\` to store them in ${authFileToWrite(opts)}`;
    }
  }
  return unsupported ? { unsupported } : {};
}

/** Writes a file so that readers see the old or the new content, never a mix (temp, fsync, rename). */
async function writeFileAtomic(file: string, data: string, mode: number): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = join(dirname(file), `.${randomHex(6)}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  const dir = await open(dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

async function writeAuthFile(file: string, content: AuthFileContent): Promise<void> {
  try {
    await writeFileAtomic(file, JSON.stringify(content, null, '\t') + '\n', 0o600);
  } catch (err) {
    throw new CtrError(`cannot write auth file ${file}: ${errorMessage(err)}`);
  }
}

/** Stores credentials for a host in the write file, keeping every other entry; returns the file. */
export async function storeCredentials(host: string, creds: Credentials, opts: AuthFileOptions = {}): Promise<string> {
  const file = authFileToWrite(opts);
  const wanted = normalizeRegistryKey(host);
  const content = (await readAuthFile(file)) ?? {};
  const auths: Record<string, AuthEntry> = { ...(content.auths ?? {}) };
  // Older spellings of the same registry would shadow or contradict the new entry.
  for (const key of keysFor(content, wanted)) delete auths[key];
  auths[wanted] = { auth: Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64') };
  await writeAuthFile(file, { ...content, auths });
  return file;
}

export interface RemoveResult {
  /** The file that was changed. */
  file: string;
  /** The registries whose credentials were removed. */
  removed: string[];
}

/** Removes a host's credentials (every spelling of its key) from the write file. */
export async function removeCredentials(host: string, opts: AuthFileOptions = {}): Promise<RemoveResult> {
  const file = authFileToWrite(opts);
  const wanted = normalizeRegistryKey(host);
  const content = await readAuthFile(file);
  const keys = content ? keysFor(content, wanted) : [];
  if (!content || keys.length === 0) return { file, removed: [] };
  const auths = { ...(content.auths ?? {}) };
  for (const key of keys) delete auths[key];
  await writeAuthFile(file, { ...content, auths });
  return { file, removed: [wanted] };
}

/** Removes every registry's credentials from the write file, keeping its other settings. */
export async function removeAllCredentials(opts: AuthFileOptions = {}): Promise<RemoveResult> {
  const file = authFileToWrite(opts);
  const content = await readAuthFile(file);
  const keys = Object.keys(content?.auths ?? {});
  if (!content || keys.length === 0) return { file, removed: [] };
  await writeAuthFile(file, { ...content, auths: {} });
  return { file, removed: [...new Set(keys.map(normalizeRegistryKey))] };
}

/** The other files that hold credentials for a host (logout only changes the write file). */
export async function otherFilesWithCredentials(host: string, opts: AuthFileOptions = {}): Promise<string[]> {
  const target = authFileToWrite(opts);
  const out: string[] = [];
  for (const file of authFilesToRead(opts)) {
    if (file === target) continue;
    const content = await readAuthFile(file).catch(() => undefined);
    if (content && keysFor(content, host).length > 0) out.push(file);
  }
  return out;
}
