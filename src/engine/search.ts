import { CtrError } from '../errors.js';
import { DEFAULT_DOMAIN, familiarName, parseReference, repositoryName } from '../image/reference.js';
import type { RegistryClient } from '../registry/client.js';
import { listCatalog, searchV1 } from '../registry/search.js';
import { registryClient, type RegistryAccessOptions } from './pull.js';

export interface SearchOptions extends RegistryAccessOptions {
  /** TERM, or HOST[:PORT]/TERM for a registry other than Docker Hub. */
  term: string;
  /** At most this many results (default 25). */
  limit?: number;
  /** List the tags of the repository TERM names instead of searching. */
  listTags?: boolean;
  /** stars=N, is-official=true|false, is-automated=true|false. */
  filters?: string[];
  signal?: AbortSignal;
}

/** One line of `ctr search`. */
export interface SearchRow {
  /** The registry searched. */
  index: string;
  name: string;
  description: string;
  /** Unknown for repositories found in a catalog. */
  stars?: number;
  official: boolean;
  automated: boolean;
  /** With --list-tags. */
  tag?: string;
}

export const DEFAULT_SEARCH_LIMIT = 25;
// Docker Hub's search API lives on the index host, not on the registry endpoint.
const HUB_SEARCH_ENDPOINT = 'index.docker.io';

/** HOST[:PORT]/TERM -> the registry and the term, as podman reads it; a bare term searches Docker Hub. */
function splitTerm(term: string): { registry: string; query: string } {
  const slash = term.indexOf('/');
  if (slash > 0) {
    const first = term.slice(0, slash);
    if (first === 'localhost' || /[.:]/.test(first) || first.startsWith('[')) return { registry: first, query: term.slice(slash + 1) };
  }
  return { registry: DEFAULT_DOMAIN, query: term };
}

function client(registry: string, opts: RegistryAccessOptions): RegistryClient {
  return registryClient({ domain: registry }, opts, registry === DEFAULT_DOMAIN ? HUB_SEARCH_ENDPOINT : undefined);
}

/** Searches a registry: Docker Hub's search API where there is one, else the registry's catalog. */
export async function search(opts: SearchOptions): Promise<SearchRow[]> {
  const limit = opts.limit ?? DEFAULT_SEARCH_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new CtrError(`--limit must be a positive number, not ${opts.limit}`);
  const filter = parseFilters(opts.filters ?? []);
  if (opts.listTags) return listTags(opts, limit);
  const { registry, query } = splitTerm(opts.term.trim());
  if (query === '' && registry === DEFAULT_DOMAIN) throw new CtrError('give a search term, e.g. ctr search busybox or ctr search HOST:PORT/name');
  const c = client(registry, opts);
  try {
    const hits = await searchV1(c, query, limit, opts.signal);
    if (hits) {
      return hits
        .map((h) => ({
          index: registry,
          name: registry === DEFAULT_DOMAIN || h.name.startsWith(`${registry}/`) ? h.name : `${registry}/${h.name}`,
          description: h.description,
          stars: h.stars,
          official: h.official,
          automated: h.automated,
        }))
        .filter(filter)
        .slice(0, limit);
    }
    const catalog = await listCatalog(c, opts.signal);
    if (!catalog) {
      throw new CtrError(`registry ${registry} cannot be searched: it has neither a search API (/v1/search) nor a catalog (/v2/_catalog); pull by full name instead`);
    }
    const needle = query.toLowerCase();
    return catalog
      .filter((name) => name.toLowerCase().includes(needle))
      .sort()
      .map((name) => ({ index: registry, name: `${registry}/${name}`, description: '', official: false, automated: false }))
      .filter(filter)
      .slice(0, limit);
  } finally {
    c.close();
  }
}

async function listTags(opts: SearchOptions, limit: number): Promise<SearchRow[]> {
  const last = opts.term.split('/').pop() ?? '';
  if (last.includes(':') || last.includes('@')) {
    throw new CtrError(`--list-tags lists the tags of a repository: give ${opts.term.replace(/[:@][^/]*$/, '')} without a tag or digest`);
  }
  const ref = parseReference(opts.term);
  const c = client(ref.domain, opts);
  try {
    const tags = await c.listTags(ref.path, opts.signal);
    const name = ref.domain === DEFAULT_DOMAIN ? familiarName(ref) : repositoryName(ref);
    return tags.slice(0, limit).map((tag) => ({ index: ref.domain, name, description: '', official: false, automated: false, tag }));
  } finally {
    c.close();
  }
}

function parseFilters(specs: string[]): (row: SearchRow) => boolean {
  const tests = specs.map((spec): ((row: SearchRow) => boolean) => {
    const [key, value = ''] = spec.split('=', 2);
    const bool = () => {
      if (!/^(true|false)$/.test(value)) throw new CtrError(`invalid filter "${spec}": ${key} takes true or false`);
      return value === 'true';
    };
    switch (key) {
      case 'stars': {
        const n = Number(value);
        if (value === '' || !Number.isInteger(n) || n < 0) throw new CtrError(`invalid filter "${spec}": stars takes a number, e.g. stars=3`);
        return (row) => (row.stars ?? 0) >= n;
      }
      case 'is-official': {
        const want = bool();
        return (row) => row.official === want;
      }
      case 'is-automated': {
        const want = bool();
        return (row) => row.automated === want;
      }
      default:
        throw new CtrError(`invalid filter "${spec}": use stars=N, is-official=true|false or is-automated=true|false`);
    }
  });
  return (row) => tests.every((t) => t(row));
}
