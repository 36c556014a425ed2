import { mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { randomHex } from '../random.js';
import { errnoCode } from '../errors.js';
import { writeJsonAtomic } from './atomic.js';

export type ContainerStatus = 'created' | 'running' | 'paused' | 'exited';

/** A mount as a container record keeps it (docker's inspect Mounts shape, roughly). */
export interface ContainerMount {
  type: 'bind' | 'volume' | 'tmpfs';
  /** Host path (bind), volume name (volume), empty (tmpfs). */
  source: string;
  destination: string;
  readOnly: boolean;
  /** Volumes made for this container alone (image VOLUMEs, -v /path): removed with rm -v / --rm. */
  anonymous?: boolean;
  /** Extra mount options (tmpfs size, bind propagation...). */
  options?: string[];
}

export interface ContainerState {
  status: ContainerStatus;
  /** The container's init process on the host, while running. */
  pid?: number;
  /** The process's start time (from /proc), so a reused pid is not mistaken for it. */
  pidStartTime?: string;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  oomKilled?: boolean;
  error?: string;
  /** Detached containers: their monitor (conmon) and its start time, so a reused pid is not mistaken for it. */
  monitorPid?: number;
  monitorStartTime?: string;
  /** One start of a container under a monitor; its exit command acts only while this is still the current one. */
  runId?: string;
  /** How many times the restart policy has started it again since the user last started it. */
  restartCount?: number;
  /** Stopped by the user (stop, kill): restart policies leave it stopped. */
  stoppedByUser?: boolean;
  /** The OCI runtime's state of this run is already deleted (by the monitor's exit command). */
  runtimeDeleted?: boolean;
  /** Exited, and its monitor will start it again (restart policy) after a short delay. */
  restarting?: boolean;
}

/** One container, as `ctr create` made it; everything `start` needs to run it again. */
export interface ContainerRecord {
  id: string;
  name: string;
  /** The image id (config digest) and the name the user gave. */
  image: string;
  imageName: string;
  created: string;
  /** The run options as given, resolved against the image at create time (see engine/create). */
  config: Record<string, unknown>;
  mounts: ContainerMount[];
  labels: Record<string, string>;
  state: ContainerState;
}

interface IndexFile {
  version: 1;
  containers: ContainerRecord[];
}

/**
 * Containers by id and name: one JSON index replaced atomically under the store lock, plus a
 * directory per container for its upper layer and files (hosts, hostname, resolv.conf, logs).
 */
export class ContainerIndex {
  private readonly file: string;

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = join(dir, 'containers.json');
  }

  list(): ContainerRecord[] {
    try {
      return (JSON.parse(readFileSync(this.file, 'utf8')) as IndexFile).containers;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
  }

  /**
   * Only call with the store lock held. Not fsynced: a container's state changes several times
   * per run and a power loss is reconciled anyway (nothing runs after a reboot).
   */
  save(containers: ContainerRecord[]): void {
    writeJsonAtomic(this.file, { version: 1, containers } satisfies IndexFile, 0o644, false);
  }

  /** The container's own directory (upper/, work/, userdata/...). */
  path(id: string): string {
    if (!/^[a-f0-9]{64}$/.test(id)) throw new Error(`internal: bad container id ${id}`);
    return join(this.dir, id);
  }

  /** Deletes a container's files: renamed away first, so a half-deleted directory is never seen. */
  async removeFiles(id: string, remover: (path: string) => Promise<void>): Promise<void> {
    const trash = join(this.dir, `.trash-${id}-${randomHex(4)}`);
    try {
      renameSync(this.path(id), trash);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw err;
    }
    await remover(trash);
  }

  static newId(): string {
    return randomHex(32);
  }
}
