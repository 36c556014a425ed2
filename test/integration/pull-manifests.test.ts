import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actors, CtrEnv } from '../helpers/ctr.js';

// Manifests no real registry of ours will serve any more (schema 1) or that are not images:
// a minimal server speaks just enough of the distribution API to hand them out.
const manifests: Record<string, { type: string; body: string }> = {
  old: {
    type: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
    body: JSON.stringify({ schemaVersion: 1, name: 'old', tag: 'latest', fsLayers: [], history: [] }),
  },
  thing: { type: 'application/vnd.example.thing.v1+json', body: JSON.stringify({ schemaVersion: 2, thing: true }) },
  garbage: { type: 'application/vnd.oci.image.manifest.v1+json', body: '{"schemaVersion": 2, "config": ' },
};

let server: http.Server;
let host: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const m = /^\/v2\/([^/]+)\/manifests\/latest$/.exec(req.url ?? '');
    if (req.url === '/v2/') return void res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    const entry = m ? manifests[m[1]!] : undefined;
    if (!entry) return void res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
    res.writeHead(200, { 'Content-Type': entry.type, 'Content-Length': Buffer.byteLength(entry.body) }).end(req.method === 'HEAD' ? undefined : entry.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe.each(actors())('manifests ctr cannot use, as $kind', (actor) => {
  let env: CtrEnv;
  beforeAll(() => {
    env = new CtrEnv(actor);
  });
  afterAll(async () => {
    await env.cleanup();
  });

  it.each([
    ['old', /schema 1/],
    ['thing', /vnd\.example\.thing.*not an image/],
    ['garbage', /not valid JSON/],
  ])('%s: one clear line, exit 125, nothing stored', async (name, message) => {
    const r = await env.ctr(['pull', `${host}/${name}`]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n').filter((l) => l.startsWith('Error:'))).toHaveLength(1);
    expect((await env.ctr(['images', '-q'])).stdout).toBe('');
  });
});
