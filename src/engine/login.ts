import { CtrError } from '../errors.js';
import {
  findCredentials,
  normalizeRegistryKey,
  otherFilesWithCredentials,
  removeAllCredentials,
  removeCredentials,
  storeCredentials,
  type Credentials,
} from '../registry/auth-file.js';
import { RegistryClient } from '../registry/client.js';
import { RegistryError } from '../registry/errors.js';

export interface LoginOptions {
  /** The registry as the user wrote it: "docker.io", "host:5000", "https://index.docker.io/v1/". */
  registry?: string;
  /** Both or neither: without them the stored credentials are checked again. */
  username?: string;
  password?: string;
  authFile?: string;
  tlsVerify?: boolean;
  certDir?: string;
  env?: NodeJS.ProcessEnv;
}

export interface LoginResult {
  registry: string;
  /** The file the credentials are in. */
  authFile: string;
  /** True when no new credentials were given and the stored ones still work. */
  alreadyLoggedIn: boolean;
}

export interface LogoutOptions {
  registry?: string;
  all?: boolean;
  authFile?: string;
  env?: NodeJS.ProcessEnv;
}

export interface LogoutResult {
  /** The registries whose credentials were removed ("all" logouts may remove none). */
  removed: string[];
  authFile: string;
}

function registryName(arg: string | undefined): string {
  const name = normalizeRegistryKey(arg ?? 'docker.io');
  if (name === '' || /[\s@]/.test(name)) throw new CtrError(`"${arg ?? ''}" is not a registry name; give HOST or HOST:PORT, for example registry.example:5000`);
  return name;
}

/** Checks credentials against the registry (GET /v2/ through its auth flow), then stores them. */
export async function login(opts: LoginOptions): Promise<LoginResult> {
  const registry = registryName(opts.registry);
  const files = { authFile: opts.authFile, env: opts.env };
  let creds: Credentials | undefined;
  let stored: string | undefined;
  if (opts.username !== undefined || opts.password !== undefined) {
    if (!opts.username) throw new CtrError(`logging in to ${registry} needs a username: pass --username`);
    if (!opts.password) throw new CtrError(`logging in to ${registry} needs a password: pass --password-stdin (or --password)`);
    creds = { username: opts.username, password: opts.password };
  } else {
    const found = await findCredentials(registry, files);
    creds = found.credentials;
    stored = found.source;
    if (!creds) {
      throw new CtrError(`logging in to ${registry} needs a username and a password: pass --username and --password-stdin`);
    }
  }
  const client = new RegistryClient(registry, { tlsVerify: opts.tlsVerify, certDir: opts.certDir, credentials: creds, env: opts.env });
  try {
    await client.ping();
  } catch (err) {
    if (err instanceof RegistryError && (err.kind === 'unauthorized' || err.kind === 'denied')) {
      const what = stored ? `the credentials stored in ${stored} for user ${creds.username}` : `the username ${creds.username} or its password`;
      throw new CtrError(`login to ${registry} failed: the registry rejected ${what}`);
    }
    throw err;
  } finally {
    client.close();
  }
  if (stored) return { registry, authFile: stored, alreadyLoggedIn: true };
  const authFile = await storeCredentials(registry, creds, files);
  return { registry, authFile, alreadyLoggedIn: false };
}

/** Removes stored credentials for one registry, or for all with `all`. */
export async function logout(opts: LogoutOptions): Promise<LogoutResult> {
  const files = { authFile: opts.authFile, env: opts.env };
  if (opts.all) {
    const r = await removeAllCredentials(files);
    return { removed: r.removed, authFile: r.file };
  }
  const registry = registryName(opts.registry);
  const r = await removeCredentials(registry, files);
  if (r.removed.length > 0) return { removed: r.removed, authFile: r.file };
  const elsewhere = await otherFilesWithCredentials(registry, files);
  if (elsewhere.length > 0) {
    throw new CtrError(`the credentials for ${registry} are in ${elsewhere.join(' and ')}, which ctr reads but does not change; remove them there (for docker's file: \`docker logout ${registry}\`)`);
  }
  throw new CtrError(`not logged in to ${registry} (no credentials for it in ${r.file})`);
}
