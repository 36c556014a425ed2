import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { addAbortSignal, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { parseDigest } from '../image/digest.js';
import { type Descriptor, isSchema1MediaType, MediaType } from '../image/types.js';
import { version } from '../version.js';
import { findCredentials, type CredentialLookup, type Credentials } from './auth-file.js';
import { loadRegistryCerts, suggestedCaPath } from './certs.js';
import { type Challenge, parseChallenges, pickChallenge } from './challenge.js';
import { isAbortError, isCertificateError, networkError, RegistryError } from './errors.js';

export interface RegistryClientOptions {
  /** false: skip certificate checks and allow plain HTTP (podman's --tls-verify=false). */
  tlsVerify?: boolean;
  /** A certs.d-style directory that replaces the default ones (--cert-dir). */
  certDir?: string;
  /** An auth file read before the default ones (--authfile). */
  authFile?: string;
  /** Credentials to use instead of any auth file (login, --creds). */
  credentials?: Credentials;
  userAgent?: string;
  /** Environment for auth-file and certs.d lookup; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Socket idle timeout per request. */
  timeoutMs?: number;
  /** Attempts after a retriable failure (resets, timeouts, 5xx), and the first backoff delay. */
  retries?: number;
  retryDelayMs?: number;
  /** The host that serves the API when it is not the registry's own (Docker Hub's search). */
  endpoint?: string;
}

export interface ManifestResult {
  mediaType: string;
  /** The digest of `body` (the reference itself when fetched by digest). */
  digest: string;
  body: Buffer;
}

export interface ManifestHead {
  mediaType: string;
  digest?: string;
  size?: number;
}

export interface BlobOptions {
  /** Called with the number of new bytes as they arrive (never twice for the same byte). */
  onData?: (n: number) => void;
  signal?: AbortSignal;
}

/** Everything ctr can read, schema 1 included so that it can say it does not support it. */
export const MANIFEST_ACCEPT: readonly string[] = [
  MediaType.OciIndex,
  MediaType.OciManifest,
  MediaType.DockerManifestList,
  MediaType.DockerManifest,
  MediaType.DockerManifestV1Signed,
  MediaType.DockerManifestV1,
];

export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;
const MAX_SMALL_BLOB = 64 * 1024 * 1024;
const MAX_AUTH_RESPONSE = 1024 * 1024;
const MAX_REDIRECTS = 5;

/** The host that serves a registry's API: Docker Hub's name is not its endpoint. */
export function registryEndpoint(host: string): string {
  return host === 'docker.io' || host === 'index.docker.io' ? 'registry-1.docker.io' : host;
}

function hostname(hostPort: string): string {
  if (hostPort.startsWith('[')) return hostPort.slice(1, hostPort.indexOf(']'));
  if (isIP(hostPort) === 6) return hostPort;
  const colon = hostPort.lastIndexOf(':');
  return colon >= 0 ? hostPort.slice(0, colon) : hostPort;
}

/** localhost, 127.0.0.0/8 and ::1: where docker allows plain HTTP without being asked. */
export function isLoopbackHost(hostPort: string): boolean {
  const name = hostname(hostPort).toLowerCase();
  return name === 'localhost' || name.endsWith('.localhost') || name === '::1' || (isIP(name) === 4 && name.startsWith('127.'));
}

function urlHost(hostPort: string): string {
  return isIP(hostPort) === 6 ? `[${hostPort}]` : hostPort;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

export interface SendOptions {
  /** The repository the request is about, for the token scope. */
  repo?: string;
  actions?: string;
  /** More token scopes the request needs (a cross-repository mount reads the source). */
  scopes?: string[];
  /** A request body; a stream is sent once, never retried or redirected. */
  body?: Buffer | Readable;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Retries after resets and 5xx (0 when the caller retries itself). */
  retries?: number;
  /** Builds the error for a 404. */
  notFound?: (detail: string) => RegistryError;
}

/** A client for one registry host, speaking the OCI distribution API. */
export class RegistryClient {
  readonly host: string;
  readonly endpoint: string;
  private readonly opts: RegistryClientOptions;
  private readonly allowHttp: boolean;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private scheme: 'https' | 'http' | undefined;
  private readonly httpAgent = new http.Agent({ keepAlive: true });
  private httpsAgent: Promise<https.Agent> | undefined;
  private otherHttpsAgent: https.Agent | undefined;
  private withSystemCa = false;
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pendingTokens = new Map<string, Promise<string>>();
  private lookup: Promise<CredentialLookup> | undefined;

  constructor(host: string, opts: RegistryClientOptions = {}) {
    this.host = host;
    this.endpoint = opts.endpoint ?? registryEndpoint(host);
    this.opts = opts;
    this.allowHttp = opts.tlsVerify === false || isLoopbackHost(this.endpoint);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.retries = opts.retries ?? 4;
    this.retryDelayMs = opts.retryDelayMs ?? 250;
  }

  /** Closes the pooled connections; the client must not be used afterwards. */
  close(): void {
    this.httpAgent.destroy();
    void this.httpsAgent?.then((a) => a.destroy(), () => {});
    this.otherHttpsAgent?.destroy();
  }

  /** GET /v2/ through the auth flow: proves the registry answers and accepts the credentials. */
  async ping(signal?: AbortSignal): Promise<void> {
    const res = await this.send('GET', '/v2/', { signal });
    res.resume();
  }

  async getManifest(repo: string, reference: string, accept: readonly string[] = MANIFEST_ACCEPT, signal?: AbortSignal): Promise<ManifestResult> {
    const byDigest = reference.includes(':');
    const expected = byDigest ? parseDigest(reference, `digest of ${this.refName(repo, reference)}`) : undefined;
    const res = await this.send('GET', `/v2/${repo}/manifests/${reference}`, {
      repo,
      headers: { Accept: accept.join(', ') },
      signal,
      notFound: (detail) => new RegistryError(`image not known: ${this.refName(repo, reference)} (${detail})`, 'not-found', { status: 404 }),
    });
    const body = await readBody(res, MAX_MANIFEST_SIZE, () =>
      new RegistryError(`the manifest of ${this.refName(repo, reference)} is larger than ${MAX_MANIFEST_SIZE} bytes; ctr refuses it`, 'too-large'),
    ).catch((err: unknown) => {
      throw networkError(err, this.host, this.endpoint);
    });
    const mediaType = manifestMediaType(header(res, 'content-type'), body);
    let digest: string;
    if (expected) {
      const got = `${expected.algorithm}:${createHash(expected.algorithm).update(body).digest('hex')}`;
      if (got !== reference) {
        throw new RegistryError(`the manifest ${this.refName(repo, reference)} sent by the registry does not match its digest: expected ${reference}, got ${got}`, 'digest-mismatch');
      }
      digest = reference;
    } else {
      digest = 'sha256:' + createHash('sha256').update(body).digest('hex');
      const claimed = header(res, 'docker-content-digest');
      // Schema 1 digests cover the payload without its signatures, so they never match the body.
      if (claimed && claimed.startsWith('sha256:') && claimed !== digest && !isSchema1MediaType(mediaType)) {
        throw new RegistryError(`the manifest ${this.refName(repo, reference)} sent by the registry does not match its Docker-Content-Digest: header says ${claimed}, body hashes to ${digest}`, 'digest-mismatch');
      }
    }
    return { mediaType, digest, body };
  }

  /** The manifest's type, digest and size without its body; undefined when it does not exist. */
  async headManifest(repo: string, reference: string, accept: readonly string[] = MANIFEST_ACCEPT, signal?: AbortSignal): Promise<ManifestHead | undefined> {
    let res: http.IncomingMessage;
    try {
      res = await this.send('HEAD', `/v2/${repo}/manifests/${reference}`, {
        repo,
        headers: { Accept: accept.join(', ') },
        signal,
        notFound: (detail) => new RegistryError(`image not known: ${this.refName(repo, reference)} (${detail})`, 'not-found', { status: 404 }),
      });
    } catch (err) {
      if (err instanceof RegistryError && err.kind === 'not-found') return undefined;
      throw err;
    }
    res.resume();
    const length = Number(header(res, 'content-length'));
    const contentType = header(res, 'content-type')?.split(';')[0]!.trim();
    return {
      mediaType: contentType ?? '',
      digest: header(res, 'docker-content-digest'),
      size: Number.isFinite(length) && header(res, 'content-length') !== undefined ? length : undefined,
    };
  }

  /**
   * Any API request with this client's auth, TLS, retries and error mapping (push, search); the
   * response is a 2xx one. The first request settles http vs https, so a streamed body comes later.
   */
  async api(method: string, path: string, opts: SendOptions = {}): Promise<http.IncomingMessage> {
    if (opts.body instanceof Readable) {
      if (!this.scheme) await this.ping(opts.signal);
      return this.send(method, path, { ...opts, retries: 0 });
    }
    return this.send(method, path, opts);
  }

  /** Every tag of a repository, following the registry's pagination. */
  async listTags(repo: string, signal?: AbortSignal): Promise<string[]> {
    const tags: string[] = [];
    let path: string | undefined = `/v2/${repo}/tags/list?n=1000`;
    for (let page = 0; path && page < 1000; page++) {
      const res = await this.send('GET', path, {
        repo,
        signal,
        notFound: (detail) => new RegistryError(`repository ${this.host}/${repo} is not known (${detail})`, 'not-found', { status: 404 }),
      });
      const body = await readBody(res, 16 * 1024 * 1024, () => new RegistryError(`the tag list of ${this.host}/${repo} is too large`, 'too-large'));
      const parsed = parseJson(body) as { tags?: unknown } | undefined;
      if (!parsed || (parsed.tags !== null && parsed.tags !== undefined && !Array.isArray(parsed.tags))) {
        throw new RegistryError(`registry ${this.host} sent a malformed tag list for ${repo}`, 'protocol');
      }
      for (const t of (parsed.tags as unknown[] | null | undefined) ?? []) if (typeof t === 'string') tags.push(t);
      const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(header(res, 'link') ?? '');
      const nextUrl = next ? new URL(next[1]!, `https://${urlHost(this.endpoint)}`) : undefined;
      path = nextUrl ? nextUrl.pathname + nextUrl.search : undefined;
    }
    return tags;
  }

  /**
   * A stream of the blob's bytes, verified on the fly: it errors (naming the digest, what was
   * expected and what came) instead of ending when the size or digest is wrong. A dropped
   * connection resumes with a Range request, or restarts and skips what was already sent.
   */
  getBlob(repo: string, desc: Pick<Descriptor, 'digest' | 'size'>, opts: BlobOptions = {}): Readable {
    const stream = Readable.from(this.blobChunks(repo, desc, opts), { objectMode: false, highWaterMark: 256 * 1024 });
    if (opts.signal) addAbortSignal(opts.signal, stream);
    return stream;
  }

  /** A whole small blob (a config) in memory, verified. */
  async getBlobBuffer(repo: string, desc: Pick<Descriptor, 'digest' | 'size'>, signal?: AbortSignal): Promise<Buffer> {
    if (desc.size > MAX_SMALL_BLOB) {
      throw new RegistryError(`blob ${desc.digest} in ${this.host}/${repo} is ${desc.size} bytes, too large to hold in memory`, 'too-large');
    }
    const chunks: Buffer[] = [];
    for await (const chunk of this.getBlob(repo, desc, { signal })) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  private refName(repo: string, reference: string): string {
    return `${this.host}/${repo}${reference.includes(':') ? '@' : ':'}${reference}`;
  }

  private async *blobChunks(repo: string, desc: Pick<Descriptor, 'digest' | 'size'>, opts: BlobOptions): AsyncGenerator<Buffer> {
    const { algorithm } = parseDigest(desc.digest, `blob digest in ${this.host}/${repo}`);
    if (!Number.isSafeInteger(desc.size) || desc.size < 0) {
      throw new RegistryError(`blob ${desc.digest} in ${this.host}/${repo} has an invalid size ${desc.size}`, 'protocol');
    }
    const hash = createHash(algorithm);
    const name = `blob ${desc.digest} from ${this.host}/${repo}`;
    const sizeError = (got: string): RegistryError => new RegistryError(`${name} has the wrong size: expected ${desc.size} bytes, got ${got}`, 'size-mismatch');
    let offset = 0;
    let failures = 0;
    let attempts = 0;
    for (;;) {
      let progressed = false;
      try {
        const res = await this.send('GET', `/v2/${repo}/blobs/${desc.digest}`, {
          repo,
          headers: offset > 0 ? { Range: `bytes=${offset}-` } : {},
          signal: opts.signal,
          retries: 0,
          notFound: (detail) => new RegistryError(`${name} is missing on the registry (${detail})`, 'not-found', { status: 404 }),
        });
        let skip = 0;
        const length = header(res, 'content-length');
        if (res.statusCode === 206) {
          const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(header(res, 'content-range') ?? '');
          const start = range ? Number(range[1]) : NaN;
          if (!(start <= offset)) {
            res.destroy();
            throw new RegistryError(`registry ${this.host} answered a resumed download of ${desc.digest} with the wrong range (${header(res, 'content-range') ?? 'none'})`, 'protocol');
          }
          skip = offset - start;
        } else {
          // The server ignored Range: read from the start again and drop what was already passed on.
          skip = offset;
          if (length !== undefined && Number(length) !== desc.size) {
            res.destroy();
            throw sizeError(`a response of ${length} bytes`);
          }
        }
        for await (const raw of res) {
          let chunk = raw as Buffer;
          if (skip > 0) {
            if (chunk.length <= skip) {
              skip -= chunk.length;
              continue;
            }
            chunk = chunk.subarray(skip);
            skip = 0;
          }
          if (offset + chunk.length > desc.size) throw sizeError('more');
          hash.update(chunk);
          offset += chunk.length;
          progressed = true;
          opts.onData?.(chunk.length);
          yield chunk;
        }
        if (offset === desc.size) break;
        throw new RegistryError(`${name} ended early at byte ${offset} of ${desc.size}`, 'connection', { retriable: true });
      } catch (raw) {
        const err = networkError(raw, this.host, this.endpoint);
        if (offset === desc.size && err instanceof RegistryError && err.retriable) break;
        if (!(err instanceof RegistryError) || !err.retriable || opts.signal?.aborted) throw err;
        failures = progressed ? 1 : failures + 1;
        attempts++;
        if (failures > this.retries || attempts > this.retries * 10) {
          throw new RegistryError(`downloading ${name} failed after ${attempts} attempts: ${err.message}`, err.kind);
        }
        await sleep(this.backoff(failures), undefined, { signal: opts.signal });
      }
    }
    const got = `${algorithm}:${hash.digest('hex')}`;
    if (got !== desc.digest) {
      throw new RegistryError(`${name} is corrupt: expected digest ${desc.digest}, got ${got}`, 'digest-mismatch');
    }
  }

  private backoff(failures: number): number {
    return Math.min(this.retryDelayMs * 2 ** (failures - 1), 10_000);
  }

  /** One API request with auth, retries of transient failures, and errors mapped to sentences. */
  private async send(method: string, path: string, opts: SendOptions): Promise<http.IncomingMessage> {
    const retries = opts.retries ?? this.retries;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.sendOnce(method, path, opts);
      } catch (raw) {
        const err = networkError(raw, this.host, this.endpoint);
        if (!(err instanceof RegistryError) || !err.retriable || attempt >= retries || opts.signal?.aborted) throw err;
        await sleep(this.backoff(attempt + 1), undefined, { signal: opts.signal });
      }
    }
  }

  private async sendOnce(method: string, path: string, opts: SendOptions): Promise<http.IncomingMessage> {
    const scope = [...(opts.repo ? [`repository:${opts.repo}:${opts.actions ?? 'pull'}`] : []), ...(opts.scopes ?? [])].join(' ');
    let auth = await this.authorization(scope);
    let res = await this.exchange(method, path, auth, opts);
    if (res.statusCode === 401) {
      const challenge = pickChallenge(parseChallenges(res.headers['www-authenticate']));
      res.resume();
      if (!challenge) throw await this.unauthorized(opts.repo, 'it offered no supported authentication scheme');
      if (opts.body instanceof Readable) throw await this.unauthorized(opts.repo);
      this.challenge = challenge;
      this.forgetToken(scope);
      const retry = await this.authorization(scope, challenge.params['scope']);
      if (retry === undefined || retry === auth) throw await this.unauthorized(opts.repo);
      auth = retry;
      res = await this.exchange(method, path, auth, opts);
      if (res.statusCode === 401) {
        res.resume();
        throw await this.unauthorized(opts.repo);
      }
    }
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return res;
    const detail = await errorDetail(res);
    if (status === 404 && opts.notFound) throw opts.notFound(detail || 'not found');
    if (status === 403) {
      const what = opts.repo ? `${this.host}/${opts.repo}` : this.host;
      throw new RegistryError(`access to ${what} is denied (403 ${detail || 'Forbidden'}); check the name and that your account may use it`, 'denied', { status });
    }
    if (status === 429 || status >= 500) {
      throw new RegistryError(`registry ${this.host} answered ${method} ${path} with ${status} ${res.statusMessage ?? ''}${detail ? ` (${detail})` : ''}`, 'server', { status, retriable: true });
    }
    throw new RegistryError(`registry ${this.host} answered ${method} ${path} with ${status} ${res.statusMessage ?? ''}${detail ? ` (${detail})` : ''}`, 'protocol', { status });
  }

  private async unauthorized(repo: string | undefined, why?: string): Promise<RegistryError> {
    const creds = await this.credentials();
    if (creds) {
      const from = this.opts.credentials ? '' : ` from ${(await this.lookup)?.source ?? 'the auth file'}`;
      return new RegistryError(
        `authentication to ${this.host} failed: ${why ?? `the registry rejected the credentials of user ${creds.username}${from}`}; run \`ctr login ${this.host}\``,
        'unauthorized',
        { status: 401 },
      );
    }
    const note = (await this.lookup)?.unsupported;
    const what = repo ? `access to ${this.host}/${repo} was denied` : `registry ${this.host} requires authentication`;
    const reason = why ?? (repo ? 'the repository does not exist or needs a login' : 'no credentials are stored for it');
    return new RegistryError(`${what}: ${reason}; ${note ?? `run \`ctr login ${this.host}\``}`, 'unauthorized', { status: 401 });
  }

  private async credentials(): Promise<Credentials | undefined> {
    if (this.opts.credentials) return this.opts.credentials;
    this.lookup ??= findCredentials(this.host, { authFile: this.opts.authFile, env: this.opts.env });
    return (await this.lookup).credentials;
  }

  private tokenKey(challenge: Challenge, scope: string): string {
    return `${challenge.params['realm'] ?? ''}\n${challenge.params['service'] ?? ''}\n${scope}`;
  }

  private forgetToken(scope: string): void {
    if (this.challenge) this.tokens.delete(this.tokenKey(this.challenge, scope));
  }

  /** The Authorization header for a scope, once the registry has said which scheme it wants. */
  private async authorization(scope: string, challengeScope?: string): Promise<string | undefined> {
    const challenge = this.challenge;
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') {
      const creds = await this.credentials();
      return creds ? 'Basic ' + Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64') : undefined;
    }
    const key = this.tokenKey(challenge, scope);
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`;
    let pending = this.pendingTokens.get(key);
    if (!pending) {
      pending = this.fetchToken(challenge, scope, challengeScope).finally(() => this.pendingTokens.delete(key));
      this.pendingTokens.set(key, pending);
    }
    const token = await pending;
    return `Bearer ${token}`;
  }

  /** Docker's token flow: GET realm?service=..&scope=.., with basic credentials when there are some. */
  private async fetchToken(challenge: Challenge, scope: string, challengeScope?: string): Promise<string> {
    const realm = challenge.params['realm'];
    let url: URL;
    try {
      url = new URL(realm ?? '');
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('not http');
    } catch {
      throw new RegistryError(`registry ${this.host} sent an unusable token realm "${realm ?? ''}"`, 'protocol');
    }
    if (challenge.params['service']) url.searchParams.set('service', challenge.params['service']);
    const scopes = new Set([...scope.split(' '), ...(challengeScope ?? '').split(' ')].filter((s) => s !== ''));
    for (const s of scopes) url.searchParams.append('scope', s);
    const creds = await this.credentials();
    const headers: Record<string, string> = {};
    if (creds) headers['Authorization'] = 'Basic ' + Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64');
    let res: http.IncomingMessage;
    try {
      res = await this.follow('GET', url, headers, undefined);
    } catch (err) {
      const mapped = networkError(err, this.host, url.host);
      if (mapped instanceof RegistryError) throw new RegistryError(`getting a token for ${this.host} from ${url.origin}${url.pathname} failed: ${mapped.message}`, mapped.kind, mapped.options);
      throw mapped;
    }
    const status = res.statusCode ?? 0;
    if (status === 401 || status === 403) {
      res.resume();
      if (creds) throw await this.unauthorized(undefined, `the token server ${url.origin}${url.pathname} rejected the credentials of user ${creds.username}`);
      throw await this.unauthorized(scope ? scope.split(':')[1] : undefined, `the token server ${url.origin}${url.pathname} refused anonymous access`);
    }
    if (status !== 200) {
      const detail = await errorDetail(res);
      throw new RegistryError(`the token server ${url.origin}${url.pathname} for ${this.host} answered ${status}${detail ? ` (${detail})` : ''}`, status >= 500 ? 'server' : 'protocol', { status, retriable: status >= 500 });
    }
    const body = await readBody(res, MAX_AUTH_RESPONSE, () => new RegistryError(`the token server ${url.origin} sent an oversized answer`, 'too-large'));
    const parsed = parseJson(body) as { token?: unknown; access_token?: unknown; expires_in?: unknown } | undefined;
    const token = typeof parsed?.token === 'string' && parsed.token ? parsed.token : parsed?.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new RegistryError(`the token server ${url.origin}${url.pathname} for ${this.host} sent no token`, 'protocol');
    }
    const expiresIn = typeof parsed?.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : 60;
    this.tokens.set(this.tokenKey(challenge, scope), { token, expiresAt: Date.now() + Math.max(expiresIn - 10, expiresIn / 2) * 1000 });
    return token;
  }

  /** Sends to the registry, settling http vs https on the first request. */
  private async exchange(method: string, path: string, auth: string | undefined, opts: SendOptions): Promise<http.IncomingMessage> {
    const headers: Record<string, string> = { ...opts.headers };
    if (auth) headers['Authorization'] = auth;
    const url = (scheme: string): URL => new URL(`${scheme}://${urlHost(this.endpoint)}${path}`);
    if (this.scheme) return this.follow(method, url(this.scheme), headers, opts.signal, opts.body);
    try {
      const res = await this.follow(method, url('https'), headers, opts.signal, opts.body);
      this.scheme = 'https';
      return res;
    } catch (err) {
      // An untrusted certificate means TLS is there: falling back to HTTP would hide the real problem.
      if (!this.allowHttp || isAbortError(err) || (err instanceof RegistryError && err.kind === 'tls')) throw err;
    }
    const res = await this.follow(method, url('http'), headers, opts.signal, opts.body);
    this.scheme = 'http';
    return res;
  }

  /** One request following redirects (blob storage); credentials never leave the registry's origin. */
  private async follow(method: string, start: URL, headers: Record<string, string>, signal: AbortSignal | undefined, body?: Buffer | Readable): Promise<http.IncomingMessage> {
    let url = start;
    let hdrs = headers;
    for (let hop = 0; ; hop++) {
      const res = await this.request(method, url, hdrs, signal, body);
      const status = res.statusCode ?? 0;
      const location = header(res, 'location');
      // An upload answers with a Location that is no redirect.
      if (![301, 302, 303, 307, 308].includes(status) || !location || body) return res;
      res.resume();
      if (hop >= MAX_REDIRECTS) throw new RegistryError(`registry ${this.host} redirected ${start.pathname} more than ${MAX_REDIRECTS} times`, 'protocol');
      const next = new URL(location, url);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new RegistryError(`registry ${this.host} redirected to an unsupported address ${next.protocol}`, 'protocol');
      }
      if (next.origin !== url.origin) {
        const { Authorization: _dropped, ...rest } = hdrs;
        hdrs = rest;
      }
      if (status === 303) method = 'GET';
      url = next;
    }
  }

  private isRegistryUrl(url: URL): boolean {
    return url.host === new URL(`http://${urlHost(this.endpoint)}`).host;
  }

  private async agentFor(url: URL): Promise<http.Agent> {
    if (url.protocol === 'http:') return this.httpAgent;
    if (!this.isRegistryUrl(url)) return (this.otherHttpsAgent ??= new https.Agent({ keepAlive: true }));
    this.httpsAgent ??= this.makeHttpsAgent();
    return this.httpsAgent;
  }

  private async makeHttpsAgent(): Promise<https.Agent> {
    const names = [...new Set([this.host, this.endpoint])];
    // A few small files, mostly absent: read at once rather than through the thread pool.
    const certs = loadRegistryCerts(names, this.opts.certDir, this.opts.env);
    const ca =
      certs.ca.length > 0 || this.withSystemCa
        ? [...tls.getCACertificates('default'), ...(this.withSystemCa ? tls.getCACertificates('system') : []), ...certs.ca]
        : undefined;
    return new https.Agent({
      keepAlive: true,
      ca,
      cert: certs.cert,
      key: certs.key,
      rejectUnauthorized: this.opts.tlsVerify !== false,
    });
  }

  /** A single HTTP exchange; trusted-CA failures are retried once with the system's store added. */
  private async request(method: string, url: URL, headers: Record<string, string>, signal: AbortSignal | undefined, body?: Buffer | Readable): Promise<http.IncomingMessage> {
    try {
      return await this.rawRequest(method, url, headers, signal, body);
    } catch (err) {
      if (!isCertificateError(err) || this.opts.tlsVerify === false || !this.isRegistryUrl(url)) throw err;
      if (!this.withSystemCa) {
        // Node trusts its bundled roots; a CA installed only in the system store needs a second look.
        this.withSystemCa = true;
        const old = this.httpsAgent;
        this.httpsAgent = this.makeHttpsAgent();
        void old?.then((a) => a.destroy(), () => {});
        try {
          if (body instanceof Readable) throw err;
          return await this.rawRequest(method, url, headers, signal, body);
        } catch (again) {
          if (!isCertificateError(again)) throw again;
        }
      }
      const ca = suggestedCaPath(this.host, this.opts.certDir, this.opts.env);
      throw new RegistryError(
        `the TLS certificate of registry ${this.host} is not trusted (${(err as Error).message}); put the registry's CA certificate in ${ca}, or pass --tls-verify=false`,
        'tls',
      );
    }
  }

  private async rawRequest(method: string, url: URL, headers: Record<string, string>, signal: AbortSignal | undefined, body?: Buffer | Readable): Promise<http.IncomingMessage> {
    const agent = await this.agentFor(url);
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(url, {
        method,
        agent,
        signal,
        headers: { 'User-Agent': this.opts.userAgent ?? `ctr/${version}`, ...(Buffer.isBuffer(body) ? { 'Content-Length': String(body.length) } : {}), ...headers },
      });
      req.setTimeout(this.timeoutMs, () => {
        const err = Object.assign(new Error(`no answer for ${this.timeoutMs / 1000}s`), { code: 'ETIMEDOUT' });
        req.destroy(err);
      });
      req.once('response', resolve);
      req.on('error', reject);
      if (body instanceof Readable) {
        // A failing source (a digest mismatch) aborts the request: the registry never commits it.
        body.once('error', (err) => req.destroy(err));
        body.pipe(req);
      } else req.end(body);
    });
  }
}

function header(res: http.IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Reads a response body, refusing more than `limit` bytes. */
export async function readBody(res: http.IncomingMessage, limit: number, tooLarge: () => Error): Promise<Buffer> {
  const length = Number(header(res, 'content-length'));
  if (length > limit) {
    res.destroy();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      res.destroy();
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The registry's own words for a failure: `{"errors":[{"code","message"}]}`, or a short text. */
async function errorDetail(res: http.IncomingMessage): Promise<string> {
  let body: Buffer;
  try {
    body = await readBody(res, 64 * 1024, () => new Error('too large'));
  } catch {
    return '';
  }
  const parsed = parseJson(body) as { errors?: { code?: unknown; message?: unknown }[] } | undefined;
  if (parsed && Array.isArray(parsed.errors) && parsed.errors.length > 0) {
    return parsed.errors
      .map((e) => [e.code, e.message].filter((x) => typeof x === 'string' && x !== '').join(': '))
      .filter((s) => s !== '')
      .join('; ');
  }
  const text = body.toString('utf8').trim();
  return text.length > 0 && text.length <= 200 && !text.includes('<') ? text : '';
}

/** The manifest's media type: the Content-Type when it names one, else what the body says it is. */
export function manifestMediaType(contentType: string | undefined, body: Buffer): string {
  const ct = contentType?.split(';')[0]!.trim().toLowerCase() ?? '';
  if (MANIFEST_ACCEPT.includes(ct)) return ct;
  const parsed = parseJson(body) as { mediaType?: unknown; schemaVersion?: unknown; manifests?: unknown; config?: unknown; signatures?: unknown } | undefined;
  if (parsed && typeof parsed === 'object') {
    if (typeof parsed.mediaType === 'string' && parsed.mediaType !== '') return parsed.mediaType;
    if (parsed.schemaVersion === 1) return parsed.signatures ? MediaType.DockerManifestV1Signed : MediaType.DockerManifestV1;
    if (Array.isArray(parsed.manifests)) return MediaType.OciIndex;
    if (parsed.config && typeof parsed.config === 'object') return MediaType.OciManifest;
  }
  return ct;
}
