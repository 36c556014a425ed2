import http from 'node:http';
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actors, CtrEnv } from '../helpers/ctr.js';
import { makeLayer } from '../fixtures/layers.js';
import { pushImage } from '../fixtures/push.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { gzipSync } from 'node:zlib';

interface FakeServer {
  host: string;
  queries: URLSearchParams[];
  stop(): Promise<void>;
}

const LONG = 'Busybox base image, with a description long enough that docker shortens it in the table';

/** Docker Hub's search API (GET /v1/search?q=&n=) on 127.0.0.1, or with `none` a server that has no API at all. */
async function fakeSearchServer(kind: 'v1' | 'none'): Promise<FakeServer> {
  const queries: URLSearchParams[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (kind === 'v1' && url.pathname === '/v1/search') {
      queries.push(url.searchParams);
      const q = url.searchParams.get('q') ?? '';
      const all = [
        { name: 'library/busybox', description: LONG, star_count: 3200, is_official: true, is_automated: false },
        { name: 'someone/busybox-extra', description: 'more applets', star_count: 7, is_official: false, is_automated: true },
        { name: 'other/nginx', description: 'web', star_count: 1, is_official: false, is_automated: false },
      ].filter((r) => r.name.includes(q));
      const n = Number(url.searchParams.get('n') ?? 25);
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ num_results: all.length, query: q, results: all.slice(0, n) }));
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('404 page not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    queries,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let hub: FakeServer;
let bare: FakeServer;
let reg: TestRegistry;

beforeAll(async () => {
  [hub, bare, reg] = await Promise.all([fakeSearchServer('v1'), fakeSearchServer('none'), startRegistry()]);
  const layers = [gzipSync(makeLayer([{ type: 'file', path: 'a', content: 'a\n' }]))];
  for (const [repo, tag] of [
    ['team/busybox', 'v1'],
    ['team/busybox', 'v2'],
    ['team/app', 'latest'],
    ['tools/busy-tools', '1.0'],
  ] as const) {
    await pushImage(reg, repo, tag, { layers });
  }
}, 60_000);

afterAll(async () => {
  await Promise.all([hub?.stop(), bare?.stop(), reg?.stop()]);
});

describe.each(actors())('search as $kind', (actor) => {
  let env: CtrEnv;
  beforeAll(() => {
    env = new CtrEnv(actor);
  });
  afterAll(async () => {
    await env.cleanup();
  });

  it('shows NAME, DESCRIPTION, STARS and OFFICIAL from a registry with a search API', async () => {
    const r = await env.ctr(['search', `${hub.host}/busybox`]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^NAME\s+DESCRIPTION\s+STARS\s+OFFICIAL$/);
    expect(lines[1]).toMatch(new RegExp(`^${hub.host}/library/busybox\\s+${LONG.slice(0, 42)}\\.\\.\\.\\s+3200\\s+\\[OK\\]$`));
    expect(lines[2]).toMatch(new RegExp(`^${hub.host}/someone/busybox-extra\\s+more applets\\s+7$`));
    expect(lines.length).toBe(4);
    expect(hub.queries.at(-1)?.get('q')).toBe('busybox');
    expect(hub.queries.at(-1)?.get('n')).toBe('25');

    const full = await env.ctr(['search', '--no-trunc', '--limit', '1', `${hub.host}/busybox`]);
    expect(full.stdout).toContain(LONG);
    expect(full.stdout.trim().split('\n')).toHaveLength(2);
    expect(hub.queries.at(-1)?.get('n')).toBe('1');

    const templated = await env.ctr(['search', '--format', '{{.Name}} {{.Stars}} {{.Official}}', '--filter', 'is-official=false', `${hub.host}/busy`]);
    expect(templated.stdout).toBe(`${hub.host}/someone/busybox-extra 7 \n`);
    const json = await env.ctr(['search', '--format', 'json', '--filter', 'stars=100', `${hub.host}/busybox`]);
    expect(JSON.parse(json.stdout)).toMatchObject({ Name: `${hub.host}/library/busybox`, Stars: 3200, Official: '[OK]' });
  });

  it('lists the matching repositories of a private registry from its catalog, and the tags of one', async () => {
    const r = await env.ctr(['search', `${reg.host}/busy`]);
    expect(r.code, r.stderr).toBe(0);
    const names = r.stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/)[0]);
    expect(names).toEqual([`${reg.host}/team/busybox`, `${reg.host}/tools/busy-tools`]);

    const all = await env.ctr(['search', '--format', '{{.Name}}', `${reg.host}/`]);
    expect(all.stdout).toBe([`${reg.host}/team/app`, `${reg.host}/team/busybox`, `${reg.host}/tools/busy-tools`, ''].join('\n'));
    const limited = await env.ctr(['search', '--limit', '1', '--format', '{{.Name}}', `${reg.host}/team`]);
    expect(limited.stdout).toBe(`${reg.host}/team/app\n`);

    const tags = await env.ctr(['search', '--list-tags', `${reg.host}/team/busybox`]);
    expect(tags.code, tags.stderr).toBe(0);
    expect(tags.stdout.split('\n').map((l) => l.split(/\s+/).join(' '))).toEqual(['NAME TAG', `${reg.host}/team/busybox v1`, `${reg.host}/team/busybox v2`, '']);
  });

  it('says clearly when a registry cannot be searched, and refuses bad input, exit 125', async () => {
    const cases: [string[], RegExp][] = [
      [['search', `${bare.host}/busybox`], new RegExp(`^Error: registry ${bare.host} cannot be searched: it has neither a search API \\(/v1/search\\) nor a catalog \\(/v2/_catalog\\)`)],
      [['search', '--limit', '0', `${reg.host}/x`], /^Error: --limit takes a positive number, not "0"/],
      [['search', '--list-tags', `${reg.host}/team/busybox:v1`], /^Error: --list-tags lists the tags of a repository: give .*team\/busybox without a tag or digest/],
      [['search', '--list-tags', `${reg.host}/team/nothing`], /^Error: repository .*team\/nothing is not known/],
      [['search', '--filter', 'color=red', `${reg.host}/x`], /^Error: invalid filter "color=red"/],
    ];
    for (const [args, message] of cases) {
      const r = await env.ctr(args);
      expect(r.code, r.stderr).toBe(125);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
