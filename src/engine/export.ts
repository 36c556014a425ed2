import { createWriteStream, renameSync, rmSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CtrError, errnoCode, errorMessage } from '../errors.js';
import { tempName } from '../store/atomic.js';
import { openEngine, type EngineOptions } from './context.js';
import { resolveContainer } from './containers.js';
import { containerFiles, readContainerFiles } from './diff.js';

export interface ExportOptions extends EngineOptions {
  container: string;
  /** A file to write (replaced only when the archive is complete); otherwise `stream`. */
  output?: string;
  stream?: Writable;
}

/**
 * `ctr export`: the container's whole file system (its image's layers with its changes on top)
 * as a tar, with the owners the container sees. The overlay is mounted read-only in a private
 * mount namespace of the worker, so the kernel does the merging exactly as the container sees it.
 */
export async function exportContainer(opts: ExportOptions): Promise<void> {
  const engine = openEngine(opts);
  const rec = resolveContainer(engine.store, opts.container);
  const files = containerFiles(engine, rec);
  await engine.store.withScratchDir(async (mountPoint) => {
    const tar = readContainerFiles(engine, files, 'export', `the file system of container ${rec.name}`, ['--mount', mountPoint]);
    if (!opts.output) {
      // A reader that went away (| head) ends the export quietly, as it would end tar.
      await pipeline(tar, opts.stream!, { end: false }).catch((err: unknown) => {
        if (errnoCode(err) !== 'EPIPE') throw err;
      });
      return;
    }
    const tmp = tempName(opts.output);
    try {
      await pipeline(tar, createWriteStream(tmp, { mode: 0o644 }));
      renameSync(tmp, opts.output);
    } catch (err) {
      rmSync(tmp, { force: true });
      if (err instanceof CtrError) throw err;
      throw new CtrError(`cannot write ${opts.output}: ${errorMessage(err).replace(/^[A-Z]+: /, '')}`);
    }
  });
}
