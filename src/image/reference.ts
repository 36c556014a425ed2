import { CtrError } from '../errors.js';

/**
 * An image reference normalized the way docker does: `busybox` is
 * docker.io / library/busybox : latest. A reference names a tag, a digest or both.
 */
export interface Reference {
  domain: string;
  path: string;
  tag?: string;
  digest?: string;
}

export const DEFAULT_DOMAIN = 'docker.io';
export const DEFAULT_TAG = 'latest';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_PREFIX = 'library/';
const MAX_PATH_LENGTH = 255;

// The grammar of distribution/reference, written out as regular expressions.
const ALPHANUMERIC = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALPHANUMERIC}(?:${SEPARATOR}${ALPHANUMERIC})*`;
const REMOTE_NAME = `${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6_ADDRESS = '\\[(?:[a-fA-F0-9:]+)\\]';
const DOMAIN_AND_PORT = `(?:${DOMAIN_NAME}|${IPV6_ADDRESS})(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9A-Fa-f]{32,}';
const NAME = `(?:${DOMAIN_AND_PORT}/)?${REMOTE_NAME}`;

const REFERENCE_RE = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const ANCHORED_NAME_RE = new RegExp(`^(?:(${DOMAIN_AND_PORT})/)?(${REMOTE_NAME})$`);
const TAG_RE = new RegExp(`^${TAG}$`);
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;
const DIGEST_HEX_LENGTH: Record<string, number> = { sha256: 64, sha512: 128 };

function invalid(s: string, reason: string): CtrError {
  return new CtrError(`invalid reference "${s}": ${reason}`);
}

/** Splits off the registry the way docker does; the first component is a domain only if it looks like one. */
function splitDockerDomain(name: string): { domain: string; remainder: string } {
  const slash = name.indexOf('/');
  if (slash === -1) return { domain: DEFAULT_DOMAIN, remainder: OFFICIAL_PREFIX + name };
  const first = name.slice(0, slash);
  const rest = name.slice(slash + 1);
  let domain: string;
  let remainder: string;
  if (first === 'localhost' || /[.:]/.test(first) || first.toLowerCase() !== first) {
    domain = first === LEGACY_DEFAULT_DOMAIN ? DEFAULT_DOMAIN : first;
    remainder = rest;
  } else {
    domain = DEFAULT_DOMAIN;
    remainder = name;
  }
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_PREFIX + remainder;
  return { domain, remainder };
}

function checkDigest(s: string, digest: string): void {
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  const length = DIGEST_HEX_LENGTH[algorithm];
  if (length === undefined) throw invalid(s, `unsupported digest algorithm "${algorithm}" (use sha256 or sha512)`);
  if (hex.length !== length) throw invalid(s, `invalid checksum digest length: ${algorithm} needs ${length} hex digits`);
  if (!/^[a-f0-9]+$/.test(hex)) throw invalid(s, 'invalid checksum digest format: use lowercase hex digits');
}

/** Parses the canonical form `domain/path[:tag][@digest]` without any normalization. */
function parseCanonical(original: string, s: string): Reference {
  const m = REFERENCE_RE.exec(s);
  if (!m) {
    const lower = s.toLowerCase();
    if (lower !== s && REFERENCE_RE.test(lower)) throw invalid(original, 'repository name must be lowercase');
    throw invalid(original, 'invalid reference format');
  }
  const [, name = '', tag, digest] = m;
  const nm = ANCHORED_NAME_RE.exec(name);
  const domain = nm?.[1] ?? '';
  const path = nm?.[2] ?? name;
  if (path.length > MAX_PATH_LENGTH) {
    throw invalid(original, `repository name must not be more than ${MAX_PATH_LENGTH} characters`);
  }
  if (digest !== undefined) checkDigest(original, digest);
  const ref: Reference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/**
 * Parses what a user types (`busybox`, `user/app:1`, `host:5000/a/b@sha256:...`) into the full
 * reference docker would use. A name with neither tag nor digest gets the tag `latest`.
 */
export function parseReference(s: string): Reference {
  if (s === '') throw invalid(s, 'repository name must have at least one component');
  if (IDENTIFIER_RE.test(s)) {
    throw invalid(s, 'cannot specify 64-byte hexadecimal strings as a repository name (that is an image id)');
  }
  const { domain, remainder } = splitDockerDomain(s);
  const tagSep = remainder.indexOf(':');
  const remote = tagSep === -1 ? remainder : remainder.slice(0, tagSep);
  if (remote.toLowerCase() !== remote) throw invalid(s, 'repository name must be lowercase');
  const ref = parseCanonical(s, `${domain}/${remainder}`);
  if (ref.tag === undefined && ref.digest === undefined) ref.tag = DEFAULT_TAG;
  return ref;
}

/** Parses a target for `ctr tag` / `ctr commit` / `build -t`: a name and tag, never a digest. */
export function parseRepositoryTag(s: string): Reference {
  const ref = parseReference(s);
  if (ref.digest !== undefined) throw invalid(s, 'refusing to create a tag with a digest reference');
  return ref;
}

/** True when `s` is a valid tag (`[\w][\w.-]{0,127}`). */
export function isValidTag(s: string): boolean {
  return TAG_RE.test(s);
}

/** domain/path, e.g. docker.io/library/busybox. */
export function repositoryName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full form: docker.io/library/busybox:latest, with @digest when there is one. */
export function formatReference(ref: Reference): string {
  let s = repositoryName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** The repository as docker shows it: `busybox`, `user/app`, `host:5000/a/b`. */
export function familiarName(ref: Reference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return repositoryName(ref);
  if (ref.path.startsWith(OFFICIAL_PREFIX)) {
    const rest = ref.path.slice(OFFICIAL_PREFIX.length);
    if (!rest.includes('/')) return rest;
  }
  return ref.path;
}

/** The familiar name with its tag and digest: `busybox:latest`, `host:5000/a@sha256:...`. */
export function familiarString(ref: Reference): string {
  let s = familiarName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** The same repository at another tag (any digest is dropped: the result names the tag only). */
export function withTag(ref: Reference, tag: string): Reference {
  if (!TAG_RE.test(tag)) {
    throw new CtrError(`invalid tag "${tag}": a tag is up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'`);
  }
  return { domain: ref.domain, path: ref.path, tag };
}

/** The same repository pinned to a digest (any tag is dropped). */
export function withDigest(ref: Reference, digest: string): Reference {
  const s = `${repositoryName(ref)}@${digest}`;
  if (!new RegExp(`^${DIGEST}$`).test(digest)) throw invalid(s, 'invalid digest format');
  checkDigest(s, digest);
  return { domain: ref.domain, path: ref.path, digest };
}
