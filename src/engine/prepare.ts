import { detectIdMapping, type IdMapping } from '../runtime/idmap.js';
import { copyRuntime, findRuntime, type OciRuntime, type RuntimeCopy } from '../runtime/oci.js';
import { holdUserNamespace, releaseUserNamespace, type HeldUserNamespace } from '../runtime/userns.js';

/** What a caller of startAttached began earlier, to be done meanwhile. */
export interface EarlyStart {
  /** Rootless: the runtime's user namespace (see holdUserNamespace). */
  userns?: Promise<HeldUserNamespace>;
  /** A sealed copy of the runtime's executable (see copyRuntime); the caller closes it. */
  runtimeCopy?: Promise<RuntimeCopy | undefined>;
}

/** What prepareRun began, and for which id mapping. */
type Prepared = EarlyStart & { mapping?: IdMapping };

/** What prepareRun began, for the run that follows. */
let prepared: Prepared | undefined;

/**
 * Begins what a `run` will wait for, before anything else of ctr loads: the runtime's copy of
 * itself (not for -d) and, rootless, the runtime's user namespace. They take ~10 ms of the other
 * core; begun here they are ready by the time the container is created, so that the runtime can
 * start while the spec is made. This module is small on purpose: the engine loads meanwhile.
 * What no run takes ends with the process.
 */
export function prepareRun(globals: { runtime?: string }, opts: { detached: boolean }): void {
  releasePrepared(takePrepared());
  // The copy first: it takes longest (~7 ms to copy runc here), and needs no id mapping.
  const runtimeCopy = opts.detached ? undefined : copyRuntimeOf(() => findRuntime(globals.runtime));
  const mapping = detectIdMapping();
  prepared = { mapping, userns: holdUserNamespace(mapping), runtimeCopy };
}

/** What prepareRun began; the caller checks its mapping (usableNamespace) and releases it (releasePrepared). */
export function takePrepared(): Prepared {
  const p = prepared ?? {};
  prepared = undefined;
  return p;
}

/** The namespace prepareRun began, when it has the engine's mapping (detectIdMapping's, kept per process; else it is released). */
export function usableNamespace(p: Prepared, mapping: IdMapping): Promise<HeldUserNamespace> | undefined {
  if (!p.userns || p.mapping === mapping) return p.userns;
  releaseUserNamespace(p.userns);
  return undefined;
}

export function releasePrepared(p: EarlyStart): void {
  releaseUserNamespace(p.userns);
  void p.runtimeCopy?.then((copy) => copy?.close());
}

/** A copy of the runtime find() names; none when it names none (the start then says so). */
export function copyRuntimeOf(find: () => OciRuntime): Promise<RuntimeCopy | undefined> {
  let runtime: OciRuntime;
  try {
    runtime = find();
  } catch {
    return Promise.resolve(undefined);
  }
  return copyRuntime(runtime);
}
