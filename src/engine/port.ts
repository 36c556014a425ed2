import { CtrError } from '../errors.js';
import { findContainer, reconcile } from './containers.js';
import { openEngine, type EngineOptions } from './context.js';
import { isRunning } from './top.js';

/** One published port as a container record keeps it (-p HOST_IP:HOST_PORT:CONTAINER_PORT/PROTO). */
export interface PortMapping {
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  hostIp: string;
  hostPort: number;
}

export interface PortOptions extends EngineOptions {
  container: string;
  /** PORT or PORT/PROTO: only the addresses this one is published on. */
  privatePort?: string;
}

/**
 * `ctr port`, as docker prints it: every mapping as "80/tcp -> 0.0.0.0:8080", or for one private
 * port only its host addresses. A container that is not running publishes nothing.
 */
export async function containerPorts(opts: PortOptions): Promise<string[]> {
  const { store } = openEngine(opts);
  const c = findContainer(await reconcile(store), opts.container);
  if (!c) throw new CtrError(`no such container: ${opts.container}`);
  const mappings = isRunning(c) ? ((c.config as { ports?: PortMapping[] }).ports ?? []) : [];
  const address = (m: PortMapping) => `${m.hostIp.includes(':') ? `[${m.hostIp}]` : m.hostIp || '0.0.0.0'}:${m.hostPort}`;
  if (opts.privatePort === undefined) {
    const sorted = [...mappings].sort((a, b) => a.containerPort - b.containerPort || a.protocol.localeCompare(b.protocol));
    return sorted.map((m) => `${m.containerPort}/${m.protocol} -> ${address(m)}`);
  }
  const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/i.exec(opts.privatePort);
  if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) {
    throw new CtrError(`invalid port "${opts.privatePort}": give a container port number from 1 to 65535, optionally with /tcp, /udp or /sctp (e.g. 80/tcp)`);
  }
  const port = Number(m[1]);
  const proto = (m[2] ?? 'tcp').toLowerCase();
  const hits = mappings.filter((x) => x.containerPort === port && x.protocol === proto);
  if (hits.length === 0) throw new CtrError(`No public port '${port}/${proto}' published for ${opts.container}`);
  return hits.map(address);
}
