import { Option } from 'clipanion';
import { CtrError } from '../errors.js';

// Clipanion finds options only as direct class fields: each shared flag is one factory.

export const tlsVerifyOption = () =>
  Option.String('--tls-verify', {
    description: 'verify TLS certificates of the registry (default true; false also allows plain HTTP)',
    tolerateBoolean: true,
  });
export const certDirOption = () => Option.String('--cert-dir', { description: 'directory with CA certificates (HOST:PORT/ca.crt) for registries' });
export const authFileOption = () =>
  Option.String('--authfile', { description: 'path of the credentials file (default: containers auth.json, then ~/.docker/config.json)' });
export const credsOption = () => Option.String('--creds', { description: 'USERNAME:PASSWORD for the registry' });

interface RegistryFlags {
  tlsVerify?: string | boolean;
  certDir?: string;
  authFile?: string;
  creds?: string;
}

/** The engine's RegistryAccessOptions from a command's registry flags. */
export function registryAccess(cmd: RegistryFlags) {
  return {
    tlsVerify: parseBool(cmd.tlsVerify, '--tls-verify'),
    certDir: cmd.certDir,
    authFile: cmd.authFile,
    creds: cmd.creds,
  };
}

/** `--flag`, `--flag=true|false` as podman takes them. */
export function parseBool(value: string | boolean | undefined, flag: string): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no)$/i.test(value)) return false;
  throw new CtrError(`${flag} takes true or false, not "${value}"`);
}
