import type http from 'node:http';
import { readBody, type RegistryClient } from './client.js';
import { RegistryError } from './errors.js';

/** One result of Docker Hub's search API. */
export interface SearchResult {
  name: string;
  description: string;
  stars: number;
  official: boolean;
  automated: boolean;
}

const MAX_ANSWER = 16 * 1024 * 1024;
const MAX_CATALOG_PAGES = 100;

function notFound(): RegistryError {
  return new RegistryError('not found', 'not-found', { status: 404 });
}

function header(res: http.IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

async function readJson(client: RegistryClient, res: http.IncomingMessage, what: string): Promise<unknown> {
  const body = await readBody(res, MAX_ANSWER, () => new RegistryError(`the ${what} of registry ${client.host} is too large`, 'too-large'));
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new RegistryError(`registry ${client.host} sent a ${what} that is not JSON`, 'protocol');
  }
}

/** True for answers that mean "this API is not here" rather than "you may not". */
function absent(err: unknown): boolean {
  return err instanceof RegistryError && (err.kind === 'not-found' || (err.kind === 'protocol' && (err.status === 405 || err.status === 400 || err.status === 501)));
}

/** GET /v1/search?q=&n= (Docker Hub's search API); undefined when the registry has none. */
export async function searchV1(client: RegistryClient, term: string, limit: number, signal?: AbortSignal): Promise<SearchResult[] | undefined> {
  let res: http.IncomingMessage;
  try {
    res = await client.api('GET', `/v1/search?q=${encodeURIComponent(term)}&n=${limit}`, { signal, notFound });
  } catch (err) {
    if (absent(err)) return undefined;
    throw err;
  }
  const parsed = (await readJson(client, res, 'search answer')) as { results?: unknown } | undefined;
  if (!parsed || !Array.isArray(parsed.results)) throw new RegistryError(`registry ${client.host} sent a search answer without results`, 'protocol');
  return (parsed.results as Record<string, unknown>[])
    .filter((r) => r && typeof r.name === 'string')
    .map((r) => ({
      name: r.name as string,
      description: typeof r.description === 'string' ? r.description : '',
      stars: typeof r.star_count === 'number' ? r.star_count : 0,
      official: r.is_official === true,
      automated: r.is_automated === true,
    }));
}

/** Every repository of the registry (GET /v2/_catalog, following its pages); undefined when it has no catalog. */
export async function listCatalog(client: RegistryClient, signal?: AbortSignal): Promise<string[] | undefined> {
  const names: string[] = [];
  let path: string | undefined = '/v2/_catalog?n=1000';
  for (let page = 0; path && page < MAX_CATALOG_PAGES; page++) {
    let res: http.IncomingMessage;
    try {
      res = await client.api('GET', path, { scopes: ['registry:catalog:*'], signal, notFound });
    } catch (err) {
      if (page === 0 && absent(err)) return undefined;
      throw err;
    }
    const parsed = (await readJson(client, res, 'catalog')) as { repositories?: unknown } | undefined;
    if (!parsed || !Array.isArray(parsed.repositories)) throw new RegistryError(`registry ${client.host} sent a catalog without repositories`, 'protocol');
    for (const r of parsed.repositories as unknown[]) if (typeof r === 'string') names.push(r);
    const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(header(res, 'link') ?? '');
    const url = next ? new URL(next[1]!, 'http://registry.invalid') : undefined;
    path = url ? url.pathname + url.search : undefined;
  }
  return names;
}
