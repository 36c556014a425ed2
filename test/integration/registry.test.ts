import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sha256Digest } from '../../src/image/digest.js';
import { MediaType } from '../../src/image/types.js';
import { RegistryClient, type RegistryClientOptions } from '../../src/registry/client.js';
import { RegistryError } from '../../src/registry/errors.js';
import { startProxy, type ProxyRules } from '../fixtures/proxy.js';
import { pushImage, pushManifest, type PushedImage } from '../fixtures/push.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';

let reg: TestRegistry;
let oci: PushedImage;
let docker: PushedImage;
let big: Buffer;
let bigImage: PushedImage;
let indexDigest: string;
let indexBody: Buffer;

const fast: RegistryClientOptions = { retries: 3, retryDelayMs: 20 };

beforeAll(async () => {
  reg = await startRegistry();
  oci = await pushImage(reg, 'test/oci', 'v1', { layers: [randomBytes(1000), randomBytes(2000)] });
  docker = await pushImage(reg, 'test/docker', 'v1', { layers: [randomBytes(500)], format: 'docker' });
  big = randomBytes(3 * 1024 * 1024 + 17);
  bigImage = await pushImage(reg, 'test/big', 'latest', { layers: [big] });
  indexBody = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [{ mediaType: oci.mediaType, digest: oci.manifestDigest, size: oci.manifest.length, platform: { os: 'linux', architecture: 'amd64' } }],
    }),
  );
  indexDigest = await pushManifest(reg, 'test/oci', 'multi', indexBody, MediaType.OciIndex);
});

afterAll(async () => {
  await reg?.stop();
});

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The RegistryError a call fails with; the test fails if it succeeds or fails otherwise. */
async function failure(p: Promise<unknown>): Promise<RegistryError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RegistryError);
  return err as RegistryError;
}

async function withProxy<T>(rules: ProxyRules, fn: (client: RegistryClient, seen: { path: string; range?: string }[]) => Promise<T>): Promise<T> {
  const proxy = await startProxy(reg, rules);
  const client = new RegistryClient(proxy.host, fast);
  try {
    return await fn(client, proxy.blobRequests);
  } finally {
    client.close();
    await proxy.stop();
  }
}

describe('manifests', () => {
  test('an OCI manifest fetched by tag comes with its type and the digest of its bytes', async () => {
    const client = new RegistryClient(reg.host);
    const m = await client.getManifest('test/oci', 'v1');
    expect(m.mediaType).toBe(MediaType.OciManifest);
    expect(m.digest).toBe(oci.manifestDigest);
    expect(m.body.equals(oci.manifest)).toBe(true);
    client.close();
  });

  test('a Docker schema 2 manifest fetched by digest is verified against that digest', async () => {
    const client = new RegistryClient(reg.host);
    const m = await client.getManifest('test/docker', docker.manifestDigest);
    expect(m.mediaType).toBe(MediaType.DockerManifest);
    expect(m.digest).toBe(docker.manifestDigest);
    expect(sha256Digest(m.body)).toBe(docker.manifestDigest);
    client.close();
  });

  test('an image index is returned as an index', async () => {
    const client = new RegistryClient(reg.host);
    const m = await client.getManifest('test/oci', 'multi');
    expect(m.mediaType).toBe(MediaType.OciIndex);
    expect(m.digest).toBe(indexDigest);
    const head = await client.headManifest('test/oci', 'multi');
    expect(head).toMatchObject({ mediaType: MediaType.OciIndex, digest: indexDigest, size: indexBody.length });
    client.close();
  });

  test('tags of a repository are listed', async () => {
    const client = new RegistryClient(reg.host);
    expect((await client.listTags('test/oci')).sort()).toEqual(['multi', 'v1']);
    client.close();
  });

  test('an unknown tag or repository is "image not known" with the full name', async () => {
    const client = new RegistryClient(reg.host);
    const err = await failure(client.getManifest('test/oci', 'nope'));
    expect(err.kind).toBe('not-found');
    expect(err.message).toMatch(new RegExp(`^image not known: ${reg.host}/test/oci:nope`));
    const err2 = await failure(client.getManifest('no/such', 'latest'));
    expect(err2.kind).toBe('not-found');
    expect(await client.headManifest('test/oci', 'nope')).toBeUndefined();
    client.close();
  });

  test('a manifest whose bytes differ from the digest asked for is refused', async () => {
    await withProxy({ corruptManifests: true }, async (client) => {
      const byDigest = await failure(client.getManifest('test/oci', oci.manifestDigest));
      expect(byDigest.kind).toBe('digest-mismatch');
      expect(byDigest.message).toContain(`expected ${oci.manifestDigest}, got sha256:`);
      const byTag = await failure(client.getManifest('test/oci', 'v1'));
      expect(byTag.kind).toBe('digest-mismatch');
      expect(byTag.message).toContain('Docker-Content-Digest');
    });
  });

  test('an unreachable registry is reported as such, quickly', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const client = new RegistryClient(`127.0.0.1:${port}`);
    const started = Date.now();
    const err = await failure(client.getManifest('a/b', 'latest'));
    expect(err.kind).toBe('unreachable');
    expect(err.message).toBe(`cannot reach registry 127.0.0.1:${port}: connection refused at 127.0.0.1:${port}; check that the registry runs and the address is right`);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('blobs', () => {
  test('a blob streams its exact bytes and reports progress once per byte', async () => {
    const client = new RegistryClient(reg.host);
    let reported = 0;
    const data = await collect(client.getBlob('test/big', bigImage.layers[0]!, { onData: (n) => (reported += n) }));
    expect(data.equals(big)).toBe(true);
    expect(reported).toBe(big.length);
    const config = await client.getBlobBuffer('test/oci', oci.config);
    expect(sha256Digest(config)).toBe(oci.config.digest);
    client.close();
  });

  test('a blob the registry does not have is reported missing, naming the digest', async () => {
    const client = new RegistryClient(reg.host);
    const digest = sha256Digest('nothing');
    const err = await failure(collect(client.getBlob('test/oci', { digest, size: 7 })));
    expect(err.kind).toBe('not-found');
    expect(err.message).toContain(digest);
    client.close();
  });

  test('a corrupted blob makes the stream fail, naming the expected and the actual digest', async () => {
    await withProxy({ corrupt: true }, async (client) => {
      const desc = oci.layers[0]!;
      const err = await failure(collect(client.getBlob('test/oci', desc)));
      expect(err).toBeInstanceOf(RegistryError);
      expect(err.kind).toBe('digest-mismatch');
      expect(err.message).toMatch(new RegExp(`blob ${desc.digest} .* is corrupt: expected digest ${desc.digest}, got sha256:[0-9a-f]{64}$`));
    });
  });

  test('a truncated blob makes the stream fail with the expected and actual size', async () => {
    await withProxy({ truncateTo: 100 }, async (client) => {
      const desc = oci.layers[1]!;
      const err = await failure(collect(client.getBlob('test/oci', desc)));
      expect(err.kind).toBe('size-mismatch');
      expect(err.message).toContain(`expected ${desc.size} bytes, got a response of 100 bytes`);
    });
  });

  test('a download resumes with a Range request after the connection drops', async () => {
    await withProxy({ cutAfterBytes: 1024 * 1024, cuts: 2 }, async (client, seen) => {
      let reported = 0;
      const data = await collect(client.getBlob('test/big', bigImage.layers[0]!, { onData: (n) => (reported += n) }));
      expect(data.equals(big)).toBe(true);
      expect(reported).toBe(big.length);
      expect(seen.map((r) => r.range)).toEqual([undefined, 'bytes=1048576-', 'bytes=2097152-']);
    });
  });

  test('a server that ignores Range is read again from the start, skipping what was already received', async () => {
    await withProxy({ cutAfterBytes: 1024 * 1024 + 5, ignoreRange: true }, async (client, seen) => {
      let reported = 0;
      const data = await collect(client.getBlob('test/big', bigImage.layers[0]!, { onData: (n) => (reported += n) }));
      expect(data.equals(big)).toBe(true);
      expect(reported).toBe(big.length);
      expect(seen).toHaveLength(2);
    });
  });

  test('a connection that keeps dropping gives up after a bounded number of attempts', async () => {
    await withProxy({ cutAfterBytes: 0, cuts: 1000 }, async (client, seen) => {
      const err = await failure(collect(client.getBlob('test/big', bigImage.layers[0]!)));
      expect(err).toBeInstanceOf(RegistryError);
      expect(err.message).toMatch(/^downloading blob sha256:[0-9a-f]+ from .* failed after 4 attempts: /);
      expect(seen).toHaveLength(4);
    });
  });

  test('a download that stalls times out and resumes', async () => {
    const proxy = await startProxy(reg, { stallAfterBytes: 512 * 1024 });
    const client = new RegistryClient(proxy.host, { ...fast, timeoutMs: 300 });
    try {
      const data = await collect(client.getBlob('test/big', bigImage.layers[0]!));
      expect(data.equals(big)).toBe(true);
      expect(proxy.blobRequests.map((r) => r.range)).toEqual([undefined, 'bytes=524288-']);
    } finally {
      client.close();
      await proxy.stop();
    }
  });

  test('blobs behind a redirect to storage are fetched from there', async () => {
    await withProxy({ redirectBlobs: true }, async (client, seen) => {
      const data = await collect(client.getBlob('test/big', bigImage.layers[0]!));
      expect(data.equals(big)).toBe(true);
      expect(seen).toHaveLength(1);
    });
  });

  test('a 503 from the registry is retried', async () => {
    await withProxy({ failWith503: 2 }, async (client, seen) => {
      const data = await collect(client.getBlob('test/oci', oci.layers[0]!));
      expect(sha256Digest(data)).toBe(oci.layers[0]!.digest);
      expect(seen).toHaveLength(3);
    });
  });

  test('aborting a download ends the stream with an abort error', async () => {
    const client = new RegistryClient(reg.host);
    const ac = new AbortController();
    const stream = client.getBlob('test/big', bigImage.layers[0]!, { signal: ac.signal, onData: () => ac.abort() });
    const err = await collect(stream).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).name).toBe('AbortError');
    client.close();
  });
});
