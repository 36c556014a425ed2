import { readdirSync } from 'node:fs';
import { Readable } from 'node:stream';
import { END_OF_ARCHIVE } from '../archive/tar-writer.js';
import { CtrError } from '../errors.js';
import { applyChanges, parseChanges } from '../image/changes.js';
import { sha256Digest } from '../image/digest.js';
import { formatReference, parseRepositoryTag } from '../image/reference.js';
import { MediaType, type HistoryEntry, type ImageConfig } from '../image/types.js';
import { lastRuntimeError } from '../runtime/oci.js';
import { spawnInUserNamespace } from '../runtime/userns.js';
import type { ContainerRecord } from '../store/containers.js';
import { openEngine, type Engine, type EngineOptions } from './context.js';
import { containerConfig, isAlive, reconcile, resolveContainer, splitCommand } from './containers.js';
import type { StoredConfig } from './create.js';
import { containerFiles } from './diff.js';
import { addLocalImage, holdingLayers, ingestLayer } from './ingest.js';
import { runtimeFor } from './start.js';

export type ImageFormat = 'oci' | 'docker';

export interface CommitOptions extends EngineOptions {
  container: string;
  /** REPOSITORY[:TAG]; none makes a dangling image. */
  reference?: string;
  /** Dockerfile instructions applied to the config (CMD, ENV...). */
  changes?: string[];
  message?: string;
  author?: string;
  /** Freeze a running container while its changes are read: undefined = yes, quietly if it cannot. */
  pause?: boolean;
  format?: ImageFormat;
  runtime?: string;
}

export interface CommitIO {
  notice(text: string): void;
}

/** Runs `runtime ACTION id` where the container's runtime runs (rootless: in the user namespace). */
function runtimeCommand(engine: Engine, rec: ContainerRecord, action: 'pause' | 'resume', globalRuntime?: string): Promise<void> {
  const runtime = runtimeFor(rec.config as unknown as StoredConfig, globalRuntime);
  const child = spawnInUserNamespace(engine.mapping, [runtime.path, '--root', engine.store.runtimeStateDir(), action, rec.id], { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr: Buffer[] = [];
  child.stderr!.on('data', (d: Buffer) => stderr.push(d));
  return new Promise((resolve, reject) => {
    child.on('error', (err) => reject(new CtrError(`cannot run ${runtime.path}: ${err.message}`)));
    child.on('close', (code) => {
      child.ready.then(
        () => (code === 0 ? resolve() : reject(new CtrError(`${runtime.name} ${action}: ${lastRuntimeError(Buffer.concat(stderr).toString()) || `exit code ${code}`}`))),
        reject,
      );
    });
  });
}

/** The empty layer tar docker writes for a container without changes. */
const EMPTY_LAYER_DIFF_ID = sha256Digest(END_OF_ARCHIVE);

function upperIsEmpty(upper: string): boolean {
  try {
    return readdirSync(upper).length === 0;
  } catch {
    return false;
  }
}

/**
 * The config of the committed image: the container's config (its image's with the run's options
 * on top, as docker copies it), the --change instructions over that, one more layer and history entry.
 */
export function commitConfig(base: ImageConfig, rec: ContainerRecord, diffId: string, opts: { changes: ReturnType<typeof parseChanges>; message?: string; author?: string; now: string }): ImageConfig {
  const { author: _oldAuthor, container_config: _legacy, ...rest } = base as ImageConfig & { container_config?: unknown };
  // History lines up with the layers: an image without history gets a blank entry per layer.
  const history: HistoryEntry[] = base.history?.length ? [...base.history] : base.rootfs.diff_ids.map(() => ({ created_by: '' }));
  const own = containerConfig(base.config, rec);
  history.push({
    created: opts.now,
    // docker's: the container's command, without its entrypoint.
    created_by: splitCommand(base.config, rec.config as Partial<StoredConfig>).cmd.join(' '),
    ...(opts.author ? { author: opts.author } : {}),
    ...(opts.message ? { comment: opts.message } : {}),
  });
  return {
    ...rest,
    created: opts.now,
    ...(opts.author ? { author: opts.author } : {}),
    container: rec.id,
    config: applyChanges(own, opts.changes),
    rootfs: { type: 'layers', diff_ids: [...base.rootfs.diff_ids, diffId] },
    history,
  };
}

/**
 * `ctr commit`: a new image from a container's image plus one layer holding exactly its
 * changes (read from its upper directory with their real owners), with the config changes
 * asked for. A running container is paused meanwhile when the runtime can. Returns the image id.
 */
export async function commitContainer(opts: CommitOptions, io: CommitIO): Promise<string> {
  const names = opts.reference ? [formatReference(parseRepositoryTag(opts.reference))] : [];
  const changes = parseChanges(opts.changes ?? []);
  const engine = openEngine(opts);
  const { store } = engine;
  const rec = resolveContainer(store, opts.container);
  const files = containerFiles(engine, rec);
  const base = store.blobs.getJson<ImageConfig>(rec.image);

  const current = (await reconcile(store)).find((c) => c.id === rec.id) ?? rec;
  let paused = false;
  if (opts.pause !== false && current.state.status === 'running' && isAlive(current)) {
    try {
      await runtimeCommand(engine, current, 'pause', opts.runtime);
      paused = true;
    } catch (err) {
      if (opts.pause) io.notice(`Warning: cannot pause container ${rec.name} (${(err as Error).message}); committing it while it runs`);
    }
  }
  return holdingLayers(async (hold) => {
    let diffId: string;
    try {
      const empty = upperIsEmpty(files.upper);
      // The unpack worker reads the upper directory itself: no tar piped between processes.
      const layer = empty ? Readable.from([END_OF_ARCHIVE]) : files;
      const ingested = await ingestLayer(engine, layer, {
        mediaType: MediaType.OciLayer,
        name: `of the changes of container ${rec.name}`,
        diffId: empty ? EMPTY_LAYER_DIFF_ID : undefined,
        hold,
      });
      diffId = ingested.diffId;
    } finally {
      if (paused) await runtimeCommand(engine, current, 'resume', opts.runtime);
    }
    const config = commitConfig(base, rec, diffId, { changes, message: opts.message, author: opts.author, now: new Date().toISOString() });
    return addLocalImage(engine, { config, names, format: opts.format });
  });
}
