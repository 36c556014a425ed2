import { createReadStream, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { CtrError, errorMessage } from '../errors.js';
import { applyChanges, parseChanges } from '../image/changes.js';
import { hostPlatform, parsePlatform } from '../image/platform.js';
import { formatReference, parseRepositoryTag } from '../image/reference.js';
import { MediaType, type ImageConfig } from '../image/types.js';
import { openEngine, type EngineOptions } from './context.js';
import type { ImageFormat } from './commit.js';
import { addLocalImage, holdingLayers, ingestLayer } from './ingest.js';

export interface ImportOptions extends EngineOptions {
  /** A file, `-` for `stdin`, or an http(s) URL. */
  source: string;
  stdin?: Readable;
  reference?: string;
  changes?: string[];
  message?: string;
  /** os/arch[/variant] the image says it is for (default: this machine's). */
  platform?: string;
  format?: ImageFormat;
}

/** The tar to import, as a stream; a missing file or a failed download is one clear sentence. */
async function openSource(opts: ImportOptions): Promise<Readable> {
  if (opts.source === '-') {
    if (!opts.stdin) throw new CtrError('ctr import - reads the archive from standard input, but there is none');
    return opts.stdin;
  }
  if (/^https?:\/\//i.test(opts.source)) {
    let res: Response;
    try {
      res = await fetch(opts.source, { redirect: 'follow' });
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause;
      throw new CtrError(`cannot download ${opts.source}: ${errorMessage(cause ?? err)}`);
    }
    if (!res.ok || !res.body) throw new CtrError(`cannot download ${opts.source}: the server answered ${res.status} ${res.statusText}`.trim());
    return Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(opts.source)) throw new CtrError(`cannot import from ${opts.source}: give a file, - for standard input, or an http(s) URL`);
  try {
    if (statSync(opts.source).isDirectory()) throw new CtrError(`cannot import ${opts.source}: it is a directory; make a tar of it first (tar -C DIR -c .)`);
  } catch (err) {
    if (err instanceof CtrError) throw err;
    throw new CtrError(`cannot import ${opts.source}: ${errorMessage(err).replace(/^[A-Z]+: /, '')}`);
  }
  return createReadStream(opts.source);
}

/**
 * `ctr import`: a file-system tar (plain, gzip or zstd) becomes a one-layer image with the
 * config changes asked for. Returns the image id. Nothing is stored unless the whole archive
 * unpacked.
 */
export async function importImage(opts: ImportOptions): Promise<string> {
  const names = opts.reference ? [formatReference(parseRepositoryTag(opts.reference))] : [];
  const changes = parseChanges(opts.changes ?? []);
  const platform = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
  const engine = openEngine(opts);
  const input = await openSource(opts);
  const what = opts.source === '-' ? 'the archive on standard input' : opts.source;
  return holdingLayers(async (hold) => {
    const { diffId } = await ingestLayer(engine, input, { mediaType: MediaType.OciLayer, name: `in ${what}`, hold });
    const now = new Date().toISOString();
    const comment = opts.message ?? `Imported from ${opts.source}`;
    const config: ImageConfig = {
      created: now,
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: applyChanges({}, changes),
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created: now, created_by: '', comment }],
    };
    return addLocalImage(engine, { config, names, format: opts.format });
  });
}
