import { describe, expect, it } from 'vitest';
import {
  ANNOTATION_CONTAINERD_NAME,
  ANNOTATION_REF_NAME,
  ArchiveFormatError,
  blobMemberName,
  digestFromMemberName,
  dockerManifestJson,
  dockerRepositoriesJson,
  normalizeMemberName,
  ociEntryName,
  ociIndexJson,
  parseDockerManifest,
  parseImageConfig,
  parseImageManifest,
  parseOciIndex,
  parseOciLayout,
  resolveMemberLink,
  uncompressedManifest,
} from '../../src/image/archive.js';
import { MediaType } from '../../src/image/types.js';

const hex = (c: string) => c.repeat(64);
const json = (v: unknown) => Buffer.from(JSON.stringify(v));

describe('archive member names', () => {
  it('normalises ./, duplicate and trailing slashes, and refuses names that climb out', () => {
    expect(normalizeMemberName('./manifest.json')).toBe('manifest.json');
    expect(normalizeMemberName('blobs//sha256/ab/')).toBe('blobs/sha256/ab');
    expect(normalizeMemberName('/abs/x.tar')).toBe('abs/x.tar');
    expect(normalizeMemberName('a/../../etc/passwd')).toBeUndefined();
    expect(normalizeMemberName('./')).toBeUndefined();
  });

  it("follows podman's relative layer links and refuses links out of the archive", () => {
    expect(resolveMemberLink(`${hex('1')}/layer.tar`, `../${hex('a')}.tar`)).toBe(`${hex('a')}.tar`);
    expect(resolveMemberLink('x/layer.tar', 'other.tar')).toBe('x/other.tar');
    expect(resolveMemberLink('layer.tar', '../../x')).toBeUndefined();
  });

  it('reads the digest a member name claims, and none from docker legacy names', () => {
    expect(digestFromMemberName(`blobs/sha256/${hex('a')}`)).toBe(`sha256:${hex('a')}`);
    expect(digestFromMemberName(`${hex('b')}.tar`)).toBe(`sha256:${hex('b')}`);
    expect(digestFromMemberName(`${hex('c')}.json`)).toBe(`sha256:${hex('c')}`);
    expect(digestFromMemberName(`${hex('d')}/layer.tar`)).toBeUndefined();
    expect(digestFromMemberName('blobs/sha256/short')).toBeUndefined();
    expect(blobMemberName(`sha256:${hex('e')}`)).toBe(`blobs/sha256/${hex('e')}`);
  });
});

describe('docker-archive manifest.json and repositories', () => {
  const images = [
    { id: `sha256:${hex('c')}`, repoTags: ['busybox:latest', 'busybox:1'], names: [], diffIds: [`sha256:${hex('1')}`, `sha256:${hex('2')}`] },
    { id: `sha256:${hex('d')}`, repoTags: [], names: [], diffIds: [`sha256:${hex('1')}`] },
  ];

  it('writes one entry per image with podman-style member names, and reads it back', () => {
    const parsed = parseDockerManifest(dockerManifestJson(images));
    expect(parsed).toEqual([
      { Config: `${hex('c')}.json`, RepoTags: ['busybox:latest', 'busybox:1'], Layers: [`${hex('1')}.tar`, `${hex('2')}.tar`] },
      { Config: `${hex('d')}.json`, RepoTags: [], Layers: [`${hex('1')}.tar`] },
    ]);
  });

  it('points every tag at the top layer in repositories, and leaves untagged images out', () => {
    expect(JSON.parse(dockerRepositoriesJson(images).toString())).toEqual({ busybox: { latest: hex('2'), '1': hex('2') } });
  });

  it('reads RepoTags null (an image saved by id) and refuses a manifest that is not a list of images', () => {
    expect(parseDockerManifest(json([{ Config: 'c.json', RepoTags: null, Layers: ['l/layer.tar'] }]))[0]!.RepoTags).toBeNull();
    expect(() => parseDockerManifest(Buffer.from('{not json'))).toThrow(/manifest.json is not valid JSON/);
    expect(() => parseDockerManifest(json({ Config: 'x' }))).toThrow(ArchiveFormatError);
    expect(() => parseDockerManifest(json([{ Config: 'c.json' }]))).toThrow(/image 1 .* no Config or Layers/);
    expect(() => parseDockerManifest(json([{ Config: 'c.json', Layers: [], RepoTags: 'a:1' }]))).toThrow(/RepoTags/);
  });
});

describe('OCI layout', () => {
  const manifest = { mediaType: MediaType.OciManifest, digest: `sha256:${hex('f')}`, size: 100 };

  it('writes one index entry per name with both name annotations, and a bare one for an unnamed image', () => {
    const index = parseOciIndex(ociIndexJson([{ descriptor: manifest, names: ['docker.io/library/a:1', 'docker.io/library/a:2'] }, { descriptor: manifest, names: [] }]));
    expect(index.manifests.map(ociEntryName)).toEqual(['docker.io/library/a:1', 'docker.io/library/a:2', undefined]);
    expect(index.manifests[0]!.annotations).toEqual({ [ANNOTATION_CONTAINERD_NAME]: 'docker.io/library/a:1', [ANNOTATION_REF_NAME]: 'docker.io/library/a:1' });
  });

  it("prefers containerd's full name to a ref.name that holds only the tag (docker 25+)", () => {
    expect(ociEntryName({ ...manifest, annotations: { [ANNOTATION_REF_NAME]: 'latest', [ANNOTATION_CONTAINERD_NAME]: 'docker.io/library/busybox:latest' } })).toBe(
      'docker.io/library/busybox:latest',
    );
    expect(ociEntryName({ ...manifest, annotations: { [ANNOTATION_REF_NAME]: 'localhost/app:1' } })).toBe('localhost/app:1');
  });

  it('reads layout version 1.x only, and refuses malformed indexes and descriptors', () => {
    expect(parseOciLayout(json({ imageLayoutVersion: '1.0.0' })).imageLayoutVersion).toBe('1.0.0');
    expect(() => parseOciLayout(json({ imageLayoutVersion: '2.0.0' }))).toThrow(/version 2.0.0/);
    expect(() => parseOciLayout(json({}))).toThrow(/imageLayoutVersion/);
    expect(() => parseOciIndex(json({ schemaVersion: 2 }))).toThrow(/lists no manifests/);
    expect(() => parseOciIndex(json({ manifests: [{ mediaType: 'x', digest: 'sha256:short', size: 1 }] }))).toThrow(/malformed descriptor/);
  });

  it('describes uncompressed layers by their diff_ids, and parses the result back', () => {
    const bytes = uncompressedManifest(`sha256:${hex('c')}`, 42, MediaType.OciConfig, [{ diffId: `sha256:${hex('1')}`, size: 1024 }]);
    const m = parseImageManifest(bytes, 'manifest');
    expect(m.config).toEqual({ mediaType: MediaType.OciConfig, digest: `sha256:${hex('c')}`, size: 42 });
    expect(m.layers).toEqual([{ mediaType: MediaType.OciLayer, digest: `sha256:${hex('1')}`, size: 1024 }]);
    expect(() => parseImageManifest(json({ schemaVersion: 2, layers: [] }), 'manifest X')).toThrow(/manifest X has a malformed descriptor/);
  });

  it('accepts an image config only with valid diff_ids', () => {
    expect(parseImageConfig(json({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${hex('1')}`] } }), 'config').rootfs.diff_ids).toHaveLength(1);
    expect(() => parseImageConfig(json({ rootfs: {} }), 'config c.json')).toThrow(/config c.json is not an image config/);
    expect(() => parseImageConfig(json({ rootfs: { diff_ids: ['sha256:nothex'] } }), 'config')).toThrow(/invalid diff_id/);
  });
});
