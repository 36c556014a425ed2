import type http from 'node:http';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RegistryClient } from './client.js';
import { RegistryError } from './errors.js';

/** Every request to the destination asks for the same scope, so one token serves the whole push. */
const PUSH_ACTIONS = 'pull,push';
const OCTET_STREAM = 'application/octet-stream';

function notFound(): RegistryError {
  return new RegistryError('not found', 'not-found', { status: 404 });
}

function header(res: http.IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** True when the repository has the blob (HEAD /v2/<repo>/blobs/<digest>); `actions`: pull for a source. */
export async function hasBlob(client: RegistryClient, repo: string, digest: string, signal?: AbortSignal, actions = PUSH_ACTIONS): Promise<boolean> {
  try {
    const res = await client.api('HEAD', `/v2/${repo}/blobs/${digest}`, { repo, actions, signal, notFound });
    res.resume();
    return true;
  } catch (err) {
    if (err instanceof RegistryError && err.kind === 'not-found') return false;
    throw err;
  }
}

/** The path (and query) of an upload Location, which registries send absolute or relative. */
function uploadPath(client: RegistryClient, location: string | undefined, what: string): string {
  if (!location) throw new RegistryError(`registry ${client.host} started ${what} without saying where to send it (no Location header)`, 'protocol');
  const endpoint = isIP(client.endpoint) === 6 ? `[${client.endpoint}]` : client.endpoint;
  const url = new URL(location, `http://${endpoint}`);
  if (url.host !== new URL(`http://${endpoint}`).host) {
    throw new RegistryError(`registry ${client.host} wants ${what} sent to another host (${url.host}), which ctr does not support`, 'protocol');
  }
  return url.pathname + url.search;
}

function withDigest(path: string, digest: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
}

export type UploadStart = { mounted: true } | { mounted: false; location: string };

/**
 * POST /v2/<repo>/blobs/uploads/: opens an upload session. With `mount`, the registry first
 * tries to link the blob from another repository on it (201: nothing to send).
 */
export async function startUpload(client: RegistryClient, repo: string, opts: { mount?: { digest: string; from: string }; signal?: AbortSignal } = {}): Promise<UploadStart> {
  const { mount } = opts;
  const query = mount ? `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from)}` : '';
  const res = await client.api('POST', `/v2/${repo}/blobs/uploads/${query}`, {
    repo,
    actions: PUSH_ACTIONS,
    scopes: mount ? [`repository:${mount.from}:pull`] : undefined,
    body: Buffer.alloc(0),
    signal: opts.signal,
  });
  res.resume();
  if (res.statusCode === 201 && mount) return { mounted: true };
  if (res.statusCode !== 202) {
    throw new RegistryError(`registry ${client.host} answered the start of an upload to ${repo} with ${res.statusCode}, not 202 Accepted`, 'protocol');
  }
  return { mounted: false, location: uploadPath(client, header(res, 'location'), `an upload to ${repo}`) };
}

/** A monolithic upload: the whole blob, of known digest and size, in one PUT <location>?digest=. */
export async function putBlob(
  client: RegistryClient,
  repo: string,
  location: string,
  blob: { digest: string; size: number },
  body: Buffer | Readable,
  signal?: AbortSignal,
): Promise<void> {
  const res = await client.api('PUT', withDigest(location, blob.digest), {
    repo,
    actions: PUSH_ACTIONS,
    body,
    headers: { 'Content-Type': OCTET_STREAM, ...(Buffer.isBuffer(body) ? {} : { 'Content-Length': String(blob.size) }) },
    signal,
  });
  res.resume();
  if (res.statusCode !== 201) throw new RegistryError(`registry ${client.host} answered the upload of ${blob.digest} to ${repo} with ${res.statusCode}, not 201 Created`, 'protocol');
}

/** Uploads a small blob held in memory (a config) unless the repository has it or can mount it from `mountFrom`. */
export async function pushSmallBlob(client: RegistryClient, repo: string, data: Buffer, digest: string, opts: { mountFrom?: string; signal?: AbortSignal } = {}): Promise<'exists' | 'mounted' | 'pushed'> {
  if (await hasBlob(client, repo, digest, opts.signal)) return 'exists';
  const start = await startUpload(client, repo, { mount: opts.mountFrom ? { digest, from: opts.mountFrom } : undefined, signal: opts.signal });
  if (start.mounted) return 'mounted';
  await putBlob(client, repo, start.location, { digest, size: data.length }, data, opts.signal);
  return 'pushed';
}

/**
 * A chunked upload: PATCH after PATCH with Content-Range, then PUT ?digest= once the digest is
 * known. The chunk in flight is kept, so a broken connection resends only what did not arrive.
 */
export class ChunkedUpload {
  private offset = 0;

  constructor(
    private readonly client: RegistryClient,
    private readonly repo: string,
    private location: string,
    private readonly signal?: AbortSignal,
  ) {}

  /** Bytes the registry has accepted so far. */
  get size(): number {
    return this.offset;
  }

  async write(chunk: Buffer): Promise<void> {
    let data = chunk;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.patch(data);
        return;
      } catch (err) {
        if (!(err instanceof RegistryError) || !err.retriable || attempt >= 3 || this.signal?.aborted) throw err;
        await sleep(250 * 2 ** attempt, undefined, { signal: this.signal });
        // The registry may have kept part of the chunk: resend from where it stopped.
        const have = await this.status();
        const start = this.offset;
        if (have < start || have > start + data.length) throw err;
        data = data.subarray(have - start);
        this.offset = have;
        if (data.length === 0) return;
      }
    }
  }

  private async patch(data: Buffer): Promise<void> {
    const res = await this.client.api('PATCH', this.location, {
      repo: this.repo,
      actions: PUSH_ACTIONS,
      body: data,
      retries: 0,
      headers: { 'Content-Type': OCTET_STREAM, 'Content-Range': `${this.offset}-${this.offset + data.length - 1}` },
      signal: this.signal,
    });
    res.resume();
    if (res.statusCode !== 202) throw new RegistryError(`registry ${this.client.host} answered a chunk of an upload to ${this.repo} with ${res.statusCode}, not 202 Accepted`, 'protocol');
    this.offset += data.length;
    this.location = uploadPath(this.client, header(res, 'location') ?? this.location, `an upload to ${this.repo}`);
  }

  /** How many bytes the registry holds (GET on the session: `Range: 0-<last>`). */
  private async status(): Promise<number> {
    const res = await this.client.api('GET', this.location, { repo: this.repo, actions: PUSH_ACTIONS, signal: this.signal });
    res.resume();
    const range = /^(?:bytes=)?0-(\d+)$/.exec(header(res, 'range') ?? '');
    this.location = uploadPath(this.client, header(res, 'location') ?? this.location, `an upload to ${this.repo}`);
    return range ? Number(range[1]) + 1 : 0;
  }

  /** Commits the upload under its digest; the registry checks the digest against what it got. */
  async finish(digest: string): Promise<void> {
    const res = await this.client.api('PUT', withDigest(this.location, digest), {
      repo: this.repo,
      actions: PUSH_ACTIONS,
      body: Buffer.alloc(0),
      headers: { 'Content-Type': OCTET_STREAM },
      signal: this.signal,
    });
    res.resume();
    if (res.statusCode !== 201) throw new RegistryError(`registry ${this.client.host} answered the end of the upload of ${digest} to ${this.repo} with ${res.statusCode}, not 201 Created`, 'protocol');
  }

  /** Drops the session (best effort: registries also expire abandoned uploads). */
  async cancel(): Promise<void> {
    await cancelUpload(this.client, this.repo, this.location);
  }
}

export async function cancelUpload(client: RegistryClient, repo: string, location: string): Promise<void> {
  try {
    const res = await client.api('DELETE', location, { repo, actions: PUSH_ACTIONS, retries: 0 });
    res.resume();
  } catch {
    // Nothing to do: the session expires on its own.
  }
}

/** PUT /v2/<repo>/manifests/<reference>; returns the digest the registry says it stored, if it says. */
export async function putManifest(client: RegistryClient, repo: string, reference: string, body: Buffer, mediaType: string, signal?: AbortSignal): Promise<string | undefined> {
  const res = await client.api('PUT', `/v2/${repo}/manifests/${reference}`, {
    repo,
    actions: PUSH_ACTIONS,
    body,
    headers: { 'Content-Type': mediaType },
    signal,
  });
  res.resume();
  return header(res, 'docker-content-digest');
}
