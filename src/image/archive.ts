/**
 * The files that describe images in an archive: docker-archive's manifest.json and
 * repositories, the OCI image layout's oci-layout and index.json. Parsing and writing only;
 * messages say what is wrong without naming the archive (the caller adds that).
 */
import { isDigest } from './digest.js';
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest } from './types.js';
import { MediaType } from './types.js';

export const DOCKER_MANIFEST_FILE = 'manifest.json';
export const DOCKER_REPOSITORIES_FILE = 'repositories';
export const OCI_LAYOUT_FILE = 'oci-layout';
export const OCI_INDEX_FILE = 'index.json';
export const OCI_LAYOUT_VERSION = '1.0.0';

/** The tag (or, as podman and ctr write it, the full name) of a manifest in an OCI layout. */
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
/** The full name containerd and docker 25+ write beside a ref.name that holds only the tag. */
export const ANNOTATION_CONTAINERD_NAME = 'io.containerd.image.name';

/** One image of docker-archive's manifest.json; paths are members of the archive. */
export interface DockerArchiveEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
  LayerSources?: Record<string, Descriptor>;
}

/** docker-archive's legacy `repositories`: repository -> tag -> top layer id. */
export type DockerRepositories = Record<string, Record<string, string>>;

export interface OciLayout {
  imageLayoutVersion: string;
}

export class ArchiveFormatError extends Error {}

function parseJson(data: Buffer, what: string): unknown {
  try {
    return JSON.parse(data.toString('utf8')) as unknown;
  } catch {
    throw new ArchiveFormatError(`its ${what} is not valid JSON`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

/**
 * A member name as a relative path without `./`, duplicate or trailing slashes; undefined for
 * a name that climbs out of the archive (`..`) or is empty.
 */
export function normalizeMemberName(name: string): string | undefined {
  const parts: string[] = [];
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') return undefined;
    parts.push(p);
  }
  return parts.length > 0 ? parts.join('/') : undefined;
}

/** Where a symbolic link member points, as a member name (podman links `<id>/layer.tar` to `../<hex>.tar`). */
export function resolveMemberLink(member: string, target: string): string | undefined {
  if (target.startsWith('/')) return normalizeMemberName(target);
  const dir = member.includes('/') ? member.slice(0, member.lastIndexOf('/')) : '';
  const parts = dir ? dir.split('/') : [];
  for (const p of target.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(p);
  }
  return parts.length > 0 ? parts.join('/') : undefined;
}

export function parseDockerManifest(data: Buffer): DockerArchiveEntry[] {
  const value = parseJson(data, DOCKER_MANIFEST_FILE);
  if (!Array.isArray(value)) throw new ArchiveFormatError(`its ${DOCKER_MANIFEST_FILE} is not a list of images`);
  return value.map((e: unknown, i) => {
    if (!isObject(e) || typeof e.Config !== 'string' || !isStringArray(e.Layers)) {
      throw new ArchiveFormatError(`image ${i + 1} of its ${DOCKER_MANIFEST_FILE} has no Config or Layers`);
    }
    if (e.RepoTags !== undefined && e.RepoTags !== null && !isStringArray(e.RepoTags)) {
      throw new ArchiveFormatError(`image ${i + 1} of its ${DOCKER_MANIFEST_FILE} has RepoTags that are not a list of names`);
    }
    return e as unknown as DockerArchiveEntry;
  });
}

export function parseRepositories(data: Buffer): DockerRepositories {
  const value = parseJson(data, DOCKER_REPOSITORIES_FILE);
  if (!isObject(value) || !Object.values(value).every(isObject)) throw new ArchiveFormatError(`its ${DOCKER_REPOSITORIES_FILE} file is malformed`);
  return value as DockerRepositories;
}

export function parseOciLayout(data: Buffer): OciLayout {
  const value = parseJson(data, OCI_LAYOUT_FILE);
  if (!isObject(value) || typeof value.imageLayoutVersion !== 'string') throw new ArchiveFormatError(`its ${OCI_LAYOUT_FILE} file has no imageLayoutVersion`);
  if (!value.imageLayoutVersion.startsWith('1.')) {
    throw new ArchiveFormatError(`it is an OCI layout of version ${value.imageLayoutVersion}, which ctr does not read (1.x only)`);
  }
  return value as unknown as OciLayout;
}

function checkDescriptor(d: unknown, where: string): Descriptor {
  if (!isObject(d) || typeof d.mediaType !== 'string' || typeof d.digest !== 'string' || !isDigest(d.digest) || typeof d.size !== 'number') {
    throw new ArchiveFormatError(`${where} has a malformed descriptor`);
  }
  return d as unknown as Descriptor;
}

export function parseOciIndex(data: Buffer, what = OCI_INDEX_FILE): ImageIndex {
  const value = parseJson(data, what);
  if (!isObject(value) || !Array.isArray(value.manifests)) throw new ArchiveFormatError(`its ${what} lists no manifests`);
  value.manifests.forEach((d, i) => checkDescriptor(d, `manifest ${i + 1} in its ${what}`));
  return value as unknown as ImageIndex;
}

export function parseImageManifest(data: Buffer, what: string): ImageManifest {
  const value = parseJson(data, what);
  if (!isObject(value) || !Array.isArray(value.layers)) throw new ArchiveFormatError(`its ${what} has no layers`);
  checkDescriptor(value.config, `its ${what}`);
  value.layers.forEach((d, i) => checkDescriptor(d, `layer ${i + 1} of its ${what}`));
  return value as unknown as ImageManifest;
}

export function parseImageConfig(data: Buffer, what: string): ImageConfig {
  const value = parseJson(data, what);
  if (!isObject(value) || !isObject(value.rootfs) || !isStringArray(value.rootfs.diff_ids)) {
    throw new ArchiveFormatError(`its ${what} is not an image config (no rootfs.diff_ids)`);
  }
  for (const d of value.rootfs.diff_ids) if (!isDigest(d)) throw new ArchiveFormatError(`its ${what} has an invalid diff_id "${d}"`);
  return value as unknown as ImageConfig;
}

/** The member that holds a blob in an OCI layout. */
export function blobMemberName(digest: string): string {
  return `blobs/${digest.replace(':', '/')}`;
}

/**
 * The digest a member's name claims for its content: blobs/sha256/HEX, or HEX.tar and HEX.json
 * as podman and ctr name docker-archive members. Docker's legacy `<id>/layer.tar` claims none.
 */
export function digestFromMemberName(name: string): string | undefined {
  let m = /^blobs\/(sha256|sha512)\/([a-f0-9]+)$/.exec(name);
  if (!m) m = /^()([a-f0-9]{64})\.(?:tar|json)$/.exec(name);
  if (!m) return undefined;
  const digest = `${m[1] || 'sha256'}:${m[2]}`;
  return isDigest(digest) ? digest : undefined;
}

/** The name an OCI index entry gives its image: containerd's full name first, else ref.name. */
export function ociEntryName(desc: Descriptor): string | undefined {
  const a = desc.annotations ?? {};
  return a[ANNOTATION_CONTAINERD_NAME] || a[ANNOTATION_REF_NAME] || undefined;
}

/** What a writer knows of one image to save. */
export interface ArchiveImage {
  /** The config digest (the image id). */
  id: string;
  /** Tags to record, as they should appear (docker writes the familiar form: busybox:latest). */
  repoTags: string[];
  /** Full names for OCI annotations (docker.io/library/busybox:latest). */
  names: string[];
  diffIds: string[];
}

/** docker-archive member names, as podman writes them (docker and podman both load these). */
export const dockerConfigMember = (id: string): string => `${id.slice(id.indexOf(':') + 1)}.json`;
export const dockerLayerMember = (diffId: string): string => `${diffId.slice(diffId.indexOf(':') + 1)}.tar`;

export function dockerManifestJson(images: ArchiveImage[]): Buffer {
  const entries: DockerArchiveEntry[] = images.map((img) => ({
    Config: dockerConfigMember(img.id),
    RepoTags: img.repoTags,
    Layers: img.diffIds.map(dockerLayerMember),
  }));
  return Buffer.from(JSON.stringify(entries));
}

/** The legacy index docker < 1.10 read; every tag points at the image's top layer. */
export function dockerRepositoriesJson(images: ArchiveImage[]): Buffer {
  const repos: DockerRepositories = {};
  for (const img of images) {
    const top = img.diffIds.at(-1);
    if (!top) continue;
    for (const tag of img.repoTags) {
      const colon = tag.lastIndexOf(':');
      if (colon <= tag.lastIndexOf('/')) continue;
      (repos[tag.slice(0, colon)] ??= {})[tag.slice(colon + 1)] = top.slice(top.indexOf(':') + 1);
    }
  }
  return Buffer.from(JSON.stringify(repos));
}

export function ociLayoutJson(): Buffer {
  return Buffer.from(JSON.stringify({ imageLayoutVersion: OCI_LAYOUT_VERSION } satisfies OciLayout));
}

/** An OCI manifest listing the layers uncompressed (their digests are the diff_ids), as ctr stores them. */
export function uncompressedManifest(configDigest: string, configSize: number, configMediaType: string, layers: { diffId: string; size: number }[]): Buffer {
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: configMediaType, digest: configDigest, size: configSize },
    layers: layers.map((l) => ({ mediaType: MediaType.OciLayer, digest: l.diffId, size: l.size })),
  };
  return Buffer.from(JSON.stringify(manifest));
}

/** index.json with one entry per name of each manifest (one unnamed entry for an image without names). */
export function ociIndexJson(manifests: { descriptor: Descriptor; names: string[] }[]): Buffer {
  const entries: Descriptor[] = [];
  for (const m of manifests) {
    if (m.names.length === 0) entries.push(m.descriptor);
    for (const name of m.names) {
      entries.push({ ...m.descriptor, annotations: { [ANNOTATION_CONTAINERD_NAME]: name, [ANNOTATION_REF_NAME]: name } });
    }
  }
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: entries };
  return Buffer.from(JSON.stringify(index));
}
