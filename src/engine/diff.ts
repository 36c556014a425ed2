import { PassThrough, type Readable } from 'node:stream';
import { join } from 'node:path';
import type { FileChange } from '../archive/diff.js';
import { CtrError } from '../errors.js';
import type { ImageConfig } from '../image/types.js';
import { selfCommand } from '../runtime/self.js';
import { spawnInUserNamespace } from '../runtime/userns.js';
import type { ContainerRecord } from '../store/containers.js';
import { openEngine, type Engine, type EngineOptions } from './context.js';
import { resolveContainer } from './containers.js';

/** Where a container's files are: its upper directory and its image's layers, top first. */
export interface ContainerFiles {
  upper: string;
  lowers: string[];
}

export function containerFiles(engine: Engine, rec: ContainerRecord): ContainerFiles {
  const { store } = engine;
  if (!store.blobs.has(rec.image)) throw new CtrError(`the image of container ${rec.name} (${rec.image}) is gone from the store; its files cannot be read`);
  const image = store.blobs.getJson<ImageConfig>(rec.image);
  const lowers = [...image.rootfs.diff_ids].reverse().map((d) => store.layers.diffPath(d));
  return { upper: join(store.containers.path(rec.id), 'upper'), lowers };
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1) ?? '';
}

/**
 * Runs `ctr __diff-tar ACTION` on a container's files (rootless: inside the user namespace, so
 * files of subordinate ids are readable and show the container's ids) and returns its stdout.
 * The stream fails with the worker's own message when it fails.
 */
export function readContainerFiles(
  engine: Engine,
  files: ContainerFiles,
  action: 'changes' | 'export',
  what: string,
  extra: string[] = [],
): Readable {
  const argv = [...selfCommand(), '__diff-tar', action, '--upper', files.upper, ...files.lowers.flatMap((l) => ['--lower', l]), ...extra];
  if (action === 'export' && engine.mapping.mode !== 'root') argv.push('--userxattr');
  const child = spawnInUserNamespace(engine.mapping, argv, { selfWaits: true, mountNamespace: action === 'export', stdio: ['ignore', 'pipe', 'pipe'] });
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const stderr: Buffer[] = [];
  child.stderr!.on('data', (d: Buffer) => stderr.push(d));
  child.stdout!.pipe(out, { end: false });
  child.on('error', (err) => out.destroy(new CtrError(`cannot start the worker that reads ${what}: ${err.message}`)));
  child.ready.catch((err: unknown) => out.destroy(err as Error));
  child.on('close', (code, signal) => {
    if (code === 0) out.end();
    else {
      const reason = lastLine(Buffer.concat(stderr).toString()) || (signal ? `killed by ${signal}` : `exit code ${code}`);
      out.destroy(new CtrError(`cannot read ${what}: ${reason}`));
    }
  });
  out.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return out;
}

export interface DiffOptions extends EngineOptions {
  container: string;
}

/** `ctr diff`: what a container added (A), changed (C) and deleted (D), as docker lists it. */
export async function containerChanges(opts: DiffOptions): Promise<FileChange[]> {
  const engine = openEngine(opts);
  const rec = resolveContainer(engine.store, opts.container);
  const stream = readContainerFiles(engine, containerFiles(engine, rec), 'changes', `the changes of container ${rec.name}`);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as FileChange);
}
