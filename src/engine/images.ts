import { CtrError } from '../errors.js';
import { shortId } from '../image/digest.js';
import { familiarName, formatReference, parseReference } from '../image/reference.js';
import type { HistoryEntry, ImageConfig, ImageManifest } from '../image/types.js';
import type { ImageRecord } from '../store/images.js';
import type { Store } from '../store/store.js';
import { openEngine, type EngineOptions } from './context.js';

const HEX64 = /^[a-f0-9]{64}$/;

/** Finds an image by id, unique id prefix, name, or name@digest, as docker does. */
export function findImage(images: ImageRecord[], s: string): ImageRecord | undefined {
  const id = s.startsWith('sha256:') ? s.slice(7) : s;
  if (HEX64.test(id)) {
    const exact = images.find((i) => i.id === `sha256:${id}`);
    if (exact) return exact;
  }
  if (/^[a-f0-9]{1,63}$/.test(id)) {
    const hits = images.filter((i) => i.id.slice(7).startsWith(id));
    if (hits.length > 1) throw new CtrError(`the image id prefix ${id} is ambiguous: it matches ${hits.length} images; give more digits`);
    if (hits.length === 1 && !looksLikeName(s, images)) return hits[0];
  }
  let ref;
  try {
    ref = parseReference(s);
  } catch {
    return undefined;
  }
  if (ref.digest) {
    const repoDigest = `${ref.domain}/${ref.path}@${ref.digest}`;
    return images.find((i) => i.repoDigests.includes(repoDigest) || (i.manifestDigest === ref.digest && i.repoDigests.some((d) => d.startsWith(`${ref.domain}/${ref.path}@`))));
  }
  const name = formatReference(ref);
  return images.find((i) => i.names.includes(name));
}

/** A hex-looking word that is also a tagged name (an image called "cafe") wins as a name. */
function looksLikeName(s: string, images: ImageRecord[]): boolean {
  try {
    const name = formatReference(parseReference(s));
    return images.some((i) => i.names.includes(name));
  } catch {
    return false;
  }
}

export function resolveImage(store: Store, s: string): ImageRecord {
  const img = findImage(store.images.list(), s);
  if (!img) throw new CtrError(`no such image: ${s}; see \`ctr images\` for what is here, or \`ctr pull ${s}\``);
  return img;
}

export function imageConfig(store: Store, img: ImageRecord): ImageConfig {
  return store.blobs.getJson<ImageConfig>(img.id);
}

/** One line of `ctr images`: an image once per name it has, or once as <none>. */
export interface ImageRow {
  id: string;
  repository: string;
  tag: string;
  digest: string;
  created?: string;
  size: number;
  dangling: boolean;
  labels: Record<string, string>;
}

export interface ListImagesOptions extends EngineOptions {
  all?: boolean;
  filters?: string[];
}

export function listImages(opts: ListImagesOptions): ImageRow[] {
  const { store } = openEngine(opts);
  const filters = (opts.filters ?? []).map(parseFilter);
  const rows: ImageRow[] = [];
  const images = [...store.images.list()].sort((a, b) => (b.created ?? '').localeCompare(a.created ?? '') || a.id.localeCompare(b.id));
  for (const img of images) {
    const labels = labelsOf(store, img);
    const digest = img.repoDigests[0]?.split('@')[1] ?? '';
    const base = { id: img.id, created: img.created, size: img.size, digest, dangling: img.names.length === 0, labels };
    const named = img.names.map((n) => {
      const ref = parseReference(n);
      const familiar = familiarName(ref);
      return { ...base, repository: familiar, tag: ref.tag ?? '<none>' };
    });
    // Pulled by digest only: docker shows the repository with a <none> tag.
    const byDigest = img.repoDigests.map((d) => ({ ...base, repository: familiarName(parseReference(d)), tag: '<none>', digest: d.split('@')[1]! }));
    const candidates = named.length > 0 ? named : byDigest.length > 0 ? byDigest : [{ ...base, repository: '<none>', tag: '<none>' }];
    for (const row of candidates) if (filters.every((f) => f(row))) rows.push(row);
  }
  return rows;
}

function labelsOf(store: Store, img: ImageRecord): Record<string, string> {
  try {
    return imageConfig(store, img).config?.Labels ?? {};
  } catch {
    return {};
  }
}

function parseFilter(spec: string): (row: ImageRow) => boolean {
  const eq = spec.indexOf('=');
  if (eq < 0) throw new CtrError(`invalid filter "${spec}": use KEY=VALUE, e.g. dangling=true or reference=busybox`);
  const key = spec.slice(0, eq);
  const value = spec.slice(eq + 1);
  switch (key) {
    case 'dangling': {
      if (!/^(true|false|1|0)$/.test(value)) throw new CtrError(`invalid filter "${spec}": dangling takes true or false`);
      const want = value === 'true' || value === '1';
      return (row) => row.dangling === want;
    }
    case 'reference': {
      const re = globToRegExp(value);
      return (row) => {
        const name = row.tag === '<none>' ? row.repository : `${row.repository}:${row.tag}`;
        return re.test(row.repository) || re.test(name);
      };
    }
    case 'label': {
      const [k, v] = value.split('=', 2) as [string, string | undefined];
      return (row) => k in row.labels && (v === undefined || row.labels[k] === v);
    }
    default:
      throw new CtrError(`unknown filter "${key}": ctr images takes dangling, reference and label`);
  }
}

/** Go's path.Match for reference filters: * and ? do not cross '/'. */
function globToRegExp(glob: string): RegExp {
  let re = '';
  for (const ch of glob) {
    if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export interface TagOptions extends EngineOptions {
  source: string;
  targets: string[];
}

export async function tagImage(opts: TagOptions): Promise<void> {
  const { store } = openEngine(opts);
  const names = opts.targets.map((t) => {
    const ref = parseReference(t);
    if (ref.digest) throw new CtrError(`cannot tag with a digest: ${t}; give NAME[:TAG]`);
    return formatReference(ref);
  });
  await store.updateImages((images) => {
    const img = findImage(images, opts.source);
    if (!img) throw new CtrError(`no such image: ${opts.source}`);
    for (const other of images) if (other !== img) other.names = other.names.filter((n) => !names.includes(n));
    img.names = [...new Set([...img.names, ...names])];
  });
}

export interface RemoveImagesOptions extends EngineOptions {
  images: string[];
  force?: boolean;
}

export interface RemoveImageResult {
  untagged: string[];
  deleted: string[];
  errors: string[];
}

/**
 * rmi: a name removes that name; the image goes when no name is left. By id, an image with
 * several names needs --force. Layers no image uses any more are deleted afterwards.
 */
export async function removeImages(opts: RemoveImagesOptions): Promise<RemoveImageResult> {
  const { store } = openEngine(opts);
  const result: RemoveImageResult = { untagged: [], deleted: [], errors: [] };
  const usedBy = new Map<string, string[]>();
  for (const c of store.containers.list()) usedBy.set(c.image, [...(usedBy.get(c.image) ?? []), c.name]);
  await store.updateImages((images) => {
    for (const arg of opts.images) {
      let img: ImageRecord | undefined;
      try {
        img = findImage(images, arg);
      } catch (err) {
        result.errors.push((err as Error).message);
        continue;
      }
      if (!img) {
        result.errors.push(`no such image: ${arg}`);
        continue;
      }
      const byName = namedAs(img, arg);
      if (byName && img.names.length > 1) {
        img.names = img.names.filter((n) => n !== byName);
        result.untagged.push(displayName(byName));
        continue;
      }
      const users = usedBy.get(img.id);
      if (users && !opts.force && (!byName || img.names.length <= 1)) {
        result.errors.push(`image ${byName ? displayName(byName) : shortId(img.id)} is used by container${users.length > 1 ? 's' : ''} ${users.join(', ')}; remove ${users.length > 1 ? 'them' : 'it'} first (ctr rm), or use --force`);
        continue;
      }
      if (!byName && img.names.length > 1 && !opts.force) {
        result.errors.push(`image ${shortId(img.id)} has several names (${img.names.map(displayName).join(', ')}); remove them one by one or use --force`);
        continue;
      }
      for (const n of img.names) result.untagged.push(displayName(n));
      for (const d of img.repoDigests) if (!img.names.length) result.untagged.push(displayName(d));
      images.splice(images.indexOf(img), 1);
      result.deleted.push(img.id);
    }
  });
  if (result.deleted.length > 0) await collectGarbage(store);
  return result;
}

function namedAs(img: ImageRecord, arg: string): string | undefined {
  try {
    const name = formatReference(parseReference(arg));
    return img.names.includes(name) ? name : undefined;
  } catch {
    return undefined;
  }
}

export function displayName(full: string): string {
  try {
    const ref = parseReference(full);
    const base = familiarName(ref);
    return ref.digest ? `${base}@${ref.digest}` : `${base}:${ref.tag ?? 'latest'}`;
  } catch {
    return full;
  }
}

/** Deletes layers and blobs that no image refers to any more. */
export async function collectGarbage(store: Store): Promise<number> {
  const { layers: unused, blobs } = await store.locked(() => {
    const images = store.images.list();
    const usedLayers = new Set<string>();
    const usedBlobs = new Set<string>();
    for (const img of images) {
      usedBlobs.add(img.id).add(img.manifestDigest);
      if (img.indexDigest) usedBlobs.add(img.indexDigest);
      for (const d of imageConfig(store, img).rootfs.diff_ids) usedLayers.add(d);
    }
    // Containers keep the layers (and config) of an image removed with --force.
    for (const c of store.containers.list()) {
      if (images.some((i) => i.id === c.image) || !store.blobs.has(c.image)) continue;
      usedBlobs.add(c.image);
      for (const d of store.blobs.getJson<ImageConfig>(c.image).rootfs.diff_ids) usedLayers.add(d);
    }
    return {
      layers: store.layers.list().filter((l) => !usedLayers.has(l.diffId)),
      blobs: store.blobs.list().filter((b) => !usedBlobs.has(b)),
    };
  });
  let freed = 0;
  for (const b of blobs) store.blobs.remove(b);
  for (const l of unused) {
    // A pull may have started to use it since: recheck under the layer's own lock.
    const lock = await store.layers.lockLayer(l.diffId);
    try {
      const stillUsed =
        store.images.list().some((img) => imageConfig(store, img).rootfs.diff_ids.includes(l.diffId)) ||
        store.containers.list().some((c) => store.blobs.has(c.image) && store.blobs.getJson<ImageConfig>(c.image).rootfs.diff_ids.includes(l.diffId));
      if (!stillUsed) {
        await store.layers.remove(l.diffId);
        freed += l.size;
      }
    } finally {
      lock.release();
    }
  }
  return freed;
}

export interface PruneImagesOptions extends EngineOptions {
  all?: boolean;
  filters?: string[];
}

export async function pruneImages(opts: PruneImagesOptions): Promise<{ deleted: string[]; reclaimed: number }> {
  const { store } = openEngine(opts);
  const deleted: string[] = [];
  const used = new Set(store.containers.list().map((c) => c.image));
  await store.updateImages((images) => {
    for (const img of [...images]) {
      if (used.has(img.id)) continue;
      if (opts.all || img.names.length === 0) {
        images.splice(images.indexOf(img), 1);
        deleted.push(img.id);
      }
    }
  });
  const reclaimed = deleted.length > 0 ? await collectGarbage(store) : 0;
  return { deleted, reclaimed };
}

/** docker image inspect's shape, with docker's field names. */
export function inspectImage(store: Store, img: ImageRecord): Record<string, unknown> {
  const config = imageConfig(store, img);
  const manifest = store.blobs.getJson<ImageManifest>(img.manifestDigest);
  return {
    Id: img.id,
    RepoTags: img.names.map(displayName),
    RepoDigests: img.repoDigests.map(displayName),
    Parent: '',
    Comment: config.history?.at(-1)?.comment ?? '',
    Created: config.created ?? '',
    Author: config.author ?? '',
    Config: config.config ?? {},
    Architecture: config.architecture,
    Variant: config.variant,
    Os: config.os,
    Size: img.size,
    RootFS: { Type: 'layers', Layers: config.rootfs.diff_ids },
    Digest: img.indexDigest ?? img.manifestDigest,
    ManifestDigest: img.manifestDigest,
    ManifestType: img.manifestMediaType,
    Layers: manifest.layers.map((l) => ({ Digest: l.digest, Size: l.size, MediaType: l.mediaType })),
    History: config.history ?? [],
    Labels: config.config?.Labels ?? null,
    Metadata: { LastTagTime: img.added },
  };
}

export interface InspectImagesOptions extends EngineOptions {
  images: string[];
}

export function inspectImages(opts: InspectImagesOptions): { found: Record<string, unknown>[]; missing: string[] } {
  const { store } = openEngine(opts);
  const images = store.images.list();
  const found: Record<string, unknown>[] = [];
  const missing: string[] = [];
  for (const s of opts.images) {
    const img = findImage(images, s);
    if (img) found.push(inspectImage(store, img));
    else missing.push(s);
  }
  return { found, missing };
}

export interface HistoryRow {
  id: string;
  created?: string;
  createdBy: string;
  size: number;
  comment: string;
}

export function imageHistory(opts: EngineOptions & { image: string }): HistoryRow[] {
  const { store } = openEngine(opts);
  const img = resolveImage(store, opts.image);
  const config = imageConfig(store, img);
  const diffIds = [...config.rootfs.diff_ids];
  const history: HistoryEntry[] = config.history?.length ? config.history : diffIds.map(() => ({ created_by: '' }));
  let layer = 0;
  const rows = history.map((h) => {
    const size = h.empty_layer ? 0 : (store.layers.get(diffIds[layer++] ?? '')?.size ?? 0);
    return { id: '<missing>', created: h.created, createdBy: h.created_by ?? '', size, comment: h.comment ?? '' };
  });
  rows.reverse();
  if (rows[0]) rows[0].id = img.id;
  return rows;
}
