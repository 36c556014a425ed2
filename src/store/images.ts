import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { errnoCode } from '../errors.js';
import { writeJsonAtomic } from './atomic.js';

/** One image in the store, keyed by its id (the config digest), as docker does. */
export interface ImageRecord {
  id: string;
  /** Full references that name it: docker.io/library/busybox:latest. */
  names: string[];
  /** repository@digest forms it was pulled or pushed by: docker.io/library/busybox@sha256:... */
  repoDigests: string[];
  /** The image manifest (one platform) kept in the blob store. */
  manifestDigest: string;
  manifestMediaType: string;
  /** The index or manifest list the name pointed to, when it was one (also in the blob store). */
  indexDigest?: string;
  /** From the image config. */
  created?: string;
  /** Bytes of the uncompressed layers. */
  size: number;
  /** When this store got it. */
  added: string;
}

interface IndexFile {
  version: 1;
  images: ImageRecord[];
}

/**
 * The index of images by id and name: one JSON file, replaced atomically. Callers hold the
 * store's lock while they read-modify-write it (ImageIndex.update); readers need no lock.
 */
export class ImageIndex {
  private readonly file: string;

  constructor(dir: string) {
    this.file = join(dir, 'images.json');
  }

  list(): ImageRecord[] {
    try {
      const data = JSON.parse(readFileSync(this.file, 'utf8')) as IndexFile;
      return data.images;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
  }

  /** Only call with the store lock held. */
  save(images: ImageRecord[]): void {
    writeJsonAtomic(this.file, { version: 1, images } satisfies IndexFile);
  }

  exists(): boolean {
    return existsSync(this.file);
  }
}
