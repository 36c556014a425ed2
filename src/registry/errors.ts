import { CtrError, errnoCode, errorMessage } from '../errors.js';

export type RegistryErrorKind =
  | 'not-found'
  | 'unauthorized'
  | 'denied'
  | 'unreachable'
  | 'tls'
  | 'timeout'
  | 'connection'
  | 'server'
  | 'protocol'
  | 'too-large'
  | 'digest-mismatch'
  | 'size-mismatch';

/** A registry failure: one sentence for the user, plus a kind the engine can branch on. */
export class RegistryError extends CtrError {
  constructor(
    message: string,
    readonly kind: RegistryErrorKind,
    readonly options: { status?: number; retriable?: boolean } = {},
  ) {
    super(message);
    this.name = 'RegistryError';
  }

  get status(): number | undefined {
    return this.options.status;
  }

  /** Worth another attempt: resets, timeouts, 5xx and 429. */
  get retriable(): boolean {
    return this.options.retriable ?? false;
  }
}

const CERT_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY|HOSTNAME_MISMATCH|INVALID_CA|ERR_TLS_CERT_ALTNAME_INVALID/;

/** True when the TLS handshake worked but the certificate was not trusted. */
export function isCertificateError(err: unknown): boolean {
  return CERT_ERROR.test(errnoCode(err) ?? '');
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || errnoCode(err) === 'ABORT_ERR');
}

/** Maps a socket-level failure talking to `host` (at `endpoint`) to one clear RegistryError. */
export function networkError(err: unknown, host: string, endpoint: string): RegistryError | Error {
  if (err instanceof RegistryError || isAbortError(err)) return err as Error;
  const code = errnoCode(err);
  const msg = errorMessage(err);
  switch (code) {
    case 'ECONNREFUSED':
      return new RegistryError(`cannot reach registry ${host}: connection refused at ${endpoint}; check that the registry runs and the address is right`, 'unreachable');
    case 'ENOTFOUND':
      return new RegistryError(`cannot reach registry ${host}: the name ${endpoint.replace(/:\d+$/, '')} does not resolve; check the registry name and DNS`, 'unreachable');
    case 'EAI_AGAIN':
      return new RegistryError(`cannot reach registry ${host}: looking up ${endpoint} failed temporarily; check DNS and retry`, 'unreachable', { retriable: true });
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return new RegistryError(`cannot reach registry ${host} at ${endpoint}: ${code === 'EHOSTUNREACH' ? 'no route to host' : 'network unreachable'}; check the network`, 'unreachable');
    case 'ETIMEDOUT':
      return new RegistryError(`registry ${host} did not answer in time (${endpoint}); check the network or retry`, 'timeout', { retriable: true });
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
    case 'ERR_STREAM_PREMATURE_CLOSE':
      return new RegistryError(`the connection to registry ${host} broke (${msg})`, 'connection', { retriable: true });
  }
  if (isCertificateError(err)) {
    return new RegistryError(`the TLS certificate of registry ${host} is not trusted (${msg})`, 'tls');
  }
  if (code?.startsWith('ERR_SSL') || code === 'EPROTO' || /SSL|TLS/.test(msg)) {
    return new RegistryError(`TLS handshake with registry ${host} failed (${msg}); if it serves plain HTTP, pass --tls-verify=false`, 'tls');
  }
  return new RegistryError(`talking to registry ${host} failed: ${msg}`, 'connection', { retriable: true });
}
