import { readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CtrError, errnoCode, errorMessage } from '../errors.js';

/** What a certs.d directory gives for one registry: extra CAs and an optional client certificate. */
export interface RegistryCerts {
  ca: string[];
  cert?: string;
  key?: string;
  /** The directories that existed, for error messages. */
  dirs: string[];
}

/** The certs.d roots searched: --cert-dir alone when given, else the user's and the system's. */
export function certRoots(certDir: string | undefined, env: NodeJS.ProcessEnv = process.env): string[] {
  if (certDir) return [certDir];
  const roots: string[] = [];
  if (process.getuid?.() !== 0) {
    const config = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
    roots.push(join(config, 'containers/certs.d'));
  }
  roots.push('/etc/containers/certs.d', '/etc/docker/certs.d');
  return roots;
}

/** Where ctr suggests putting a registry's CA certificate. */
export function suggestedCaPath(host: string, certDir: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return join(certRoots(certDir, env)[0]!, host, 'ca.crt');
}

/**
 * Reads `ROOT/HOST/*.crt` (CAs) and `*.cert` + `*.key` (client certificate) for the given
 * directory names (the registry as the user wrote it, and its endpoint host if different).
 * With an explicit certDir the files may also sit directly in it, as podman allows.
 */
export function loadRegistryCerts(names: string[], certDir?: string, env: NodeJS.ProcessEnv = process.env): RegistryCerts {
  const out: RegistryCerts = { ca: [], dirs: [] };
  const dirs: string[] = [];
  for (const root of certRoots(certDir, env)) {
    for (const name of names) dirs.push(join(root, name));
  }
  if (certDir) dirs.push(certDir);
  for (const dir of [...new Set(dirs)]) {
    let entries: string[];
    try {
      entries = readdirSync(dir).sort();
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EACCES') continue;
      throw new CtrError(`cannot read certificate directory ${dir}: ${errorMessage(err)}`);
    }
    out.dirs.push(dir);
    for (const f of entries) {
      if (f.endsWith('.crt')) out.ca.push(readFileSync(join(dir, f), 'utf8'));
      else if (f.endsWith('.cert') && !out.cert) {
        const keyName = f.slice(0, -'.cert'.length) + '.key';
        if (!entries.includes(keyName)) {
          throw new CtrError(`client certificate ${join(dir, f)} has no matching key ${join(dir, keyName)}; add the key or remove the certificate`);
        }
        out.cert = readFileSync(join(dir, f), 'utf8');
        out.key = readFileSync(join(dir, keyName), 'utf8');
      }
    }
  }
  return out;
}
