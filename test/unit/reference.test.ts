import { describe, expect, test } from 'vitest';
import { CtrError } from '../../src/errors.js';
import {
  familiarName,
  familiarString,
  formatReference,
  isValidTag,
  parseReference,
  parseRepositoryTag,
  repositoryName,
  withDigest,
  withTag,
} from '../../src/image/reference.js';

const F64 = 'f'.repeat(64);
const DIGEST = `sha256:${F64}`;

function errorOf(fn: () => unknown): CtrError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CtrError);
    return e as CtrError;
  }
  throw new Error('expected an error');
}

describe('parseReference normalizes what users type the way docker does', () => {
  test.each([
    ['busybox', 'docker.io', 'library/busybox', 'latest', undefined],
    ['busybox:1.36', 'docker.io', 'library/busybox', '1.36', undefined],
    ['user/app', 'docker.io', 'user/app', 'latest', undefined],
    ['docker.io/library/foo', 'docker.io', 'library/foo', 'latest', undefined],
    ['docker.io/foo', 'docker.io', 'library/foo', 'latest', undefined],
    ['index.docker.io/foo/bar', 'docker.io', 'foo/bar', 'latest', undefined],
    ['index.docker.io/debian', 'docker.io', 'library/debian', 'latest', undefined],
    ['localhost/x', 'localhost', 'x', 'latest', undefined],
    ['localhost/library/debian', 'localhost', 'library/debian', 'latest', undefined],
    ['localhost:5000/foo/bar:v1', 'localhost:5000', 'foo/bar', 'v1', undefined],
    [`localhost:5000/foo/bar@${DIGEST}`, 'localhost:5000', 'foo/bar', undefined, DIGEST],
    [`busybox:1.36@${DIGEST}`, 'docker.io', 'library/busybox', '1.36', DIGEST],
    [`busybox@${DIGEST}`, 'docker.io', 'library/busybox', undefined, DIGEST],
    ['test:5000/repo:tag', 'test:5000', 'repo', 'tag', undefined],
    ['test.com/repo:tag', 'test.com', 'repo', 'tag', undefined],
    ['sub-dom1.foo.com/bar/baz/quux:some-long-tag', 'sub-dom1.foo.com', 'bar/baz/quux', 'some-long-tag', undefined],
    ['b.gcr.io/test.example.com/my-app:test.example.com', 'b.gcr.io', 'test.example.com/my-app', 'test.example.com', undefined],
    [`xn--7o8h.com/myimage:xn--7o8h.com@${DIGEST}`, 'xn--7o8h.com', 'myimage', 'xn--7o8h.com', DIGEST],
    ['192.168.1.1:5000/repo:5050', '192.168.1.1:5000', 'repo', '5050', undefined],
    ['192.168.0.1', 'docker.io', 'library/192.168.0.1', 'latest', undefined],
    // Without a slash, host:port reads as name:tag, as in docker.
    ['192.168.0.1:80', 'docker.io', 'library/192.168.0.1', '80', undefined],
    ['[2001:db8::1]:5000/repo:tag', '[2001:db8::1]:5000', 'repo', 'tag', undefined],
    ['[::1]:5000/repo', '[::1]:5000', 'repo', 'latest', undefined],
    ['LOCALDOMAIN/debian', 'LOCALDOMAIN', 'debian', 'latest', undefined],
    ['Uppercase/lowercase:tag', 'Uppercase', 'lowercase', 'tag', undefined],
    ['lowercase:Uppercase', 'docker.io', 'library/lowercase', 'Uppercase', undefined],
    ['docker---rules/docker', 'docker.io', 'docker---rules/docker', 'latest', undefined],
    ['dock__er/docker', 'docker.io', 'dock__er/docker', 'latest', undefined],
    ['d/docker', 'docker.io', 'd/docker', 'latest', undefined],
    ['foo_bar.com:8080', 'docker.io', 'library/foo_bar.com', '8080', undefined],
    [`docker.io/${'1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a'}`, 'docker.io', 'library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a', 'latest', undefined],
    ['thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev', 'docker.io', 'library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev', 'latest', undefined],
  ])('%s', (input, domain, path, tag, digest) => {
    const ref = parseReference(input);
    expect(ref).toEqual({ domain, path, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) });
  });

  test('a tag of 128 characters is accepted, 129 is not', () => {
    expect(parseReference(`foo:${'a'.repeat(128)}`).tag).toHaveLength(128);
    expect(errorOf(() => parseReference(`foo:${'a'.repeat(129)}`)).message).toContain('invalid reference format');
  });

  test('a repository path of 255 characters is accepted, 256 is not', () => {
    expect(parseReference(`example.com/${'a'.repeat(255)}:tag`).path).toHaveLength(255);
    const path255 = `${'a/'.repeat(127)}a`;
    expect(parseReference(`${path255}:tag-puts-this-over-max`).path).toBe(path255);
    const err = errorOf(() => parseReference(`docker.io/library/${'a'.repeat(248)}`));
    expect(err.message).toBe(
      `invalid reference "docker.io/library/${'a'.repeat(248)}": repository name must not be more than 255 characters`,
    );
    expect(errorOf(() => parseReference(`domain/${'a'.repeat(256)}:tag`)).message).toContain('more than 255 characters');
  });
});

describe('parseReference rejects what docker rejects, saying why', () => {
  test.each([
    ['Foo', 'invalid reference "Foo": repository name must be lowercase'],
    ['Uppercase:tag', 'invalid reference "Uppercase:tag": repository name must be lowercase'],
    ['docker/Docker', 'invalid reference "docker/Docker": repository name must be lowercase'],
    ['test:5000/Uppercase/lowercase:tag', 'invalid reference "test:5000/Uppercase/lowercase:tag": repository name must be lowercase'],
    ['docker.io/docker/Docker', 'invalid reference "docker.io/docker/Docker": repository name must be lowercase'],
    ['a:b:c', 'invalid reference "a:b:c": invalid reference format'],
    ['', 'invalid reference "": repository name must have at least one component'],
    [':justtag', 'invalid reference ":justtag": invalid reference format'],
    [`@${DIGEST}`, `invalid reference "@${DIGEST}": invalid reference format`],
    ['https://github.com/docker/docker', 'invalid reference "https://github.com/docker/docker": invalid reference format'],
  ])('%s', (input, message) => {
    expect(errorOf(() => parseReference(input)).message).toBe(message);
  });

  test.each([
    '-docker',
    '-docker/docker',
    'docker-/docker',
    '-docker.io/docker/docker',
    'docker///docker',
    'docker.io/docker///docker',
    '____/____',
    '_docker/_docker',
    'dock..er/docker',
    'dock_.er/docker',
    'dock-.er/docker',
    'docker/',
    'aa/asdf$$^/aa',
    '[fc00::1]',
    '[fc00::1]:5000',
    'fc00::1:5000/debian',
    '[fe80::1%eth0]:5000/debian',
    '[2001:db8:3:4::192.0.2.33]:5000/debian',
    'foo:.tag',
    'foo:-tag',
  ])('%s is not a valid reference', (input) => {
    expect(errorOf(() => parseReference(input)).message).toMatch(/^invalid reference /);
  });

  test('a bare 64-hex string is an image id, not a reference', () => {
    const id = '1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a';
    expect(errorOf(() => parseReference(id)).message).toContain('64-byte hexadecimal');
  });

  test('digests are checked: algorithm, length and lowercase hex', () => {
    expect(errorOf(() => parseReference(`repo@sha256:${'f'.repeat(34)}`)).message).toContain('invalid checksum digest length');
    expect(errorOf(() => parseReference(`validname@invaliddigest:${F64}`)).message).toContain('unsupported digest algorithm');
    expect(errorOf(() => parseReference(`repo@sha256:${'F'.repeat(64)}`)).message).toContain('invalid checksum digest format');
    expect(parseReference(`repo@sha512:${'a'.repeat(128)}`).digest).toBe(`sha512:${'a'.repeat(128)}`);
  });
});

describe('reference formatting', () => {
  test('formatReference gives the full form', () => {
    expect(formatReference(parseReference('busybox'))).toBe('docker.io/library/busybox:latest');
    expect(formatReference(parseReference(`busybox:1@${DIGEST}`))).toBe(`docker.io/library/busybox:1@${DIGEST}`);
    expect(formatReference(parseReference(`host:5000/a/b@${DIGEST}`))).toBe(`host:5000/a/b@${DIGEST}`);
  });

  test.each([
    ['busybox', 'busybox'],
    ['docker.io/library/busybox:1', 'busybox'],
    ['user/app', 'user/app'],
    ['docker.io/library/a/b', 'library/a/b'],
    ['host:5000/a/b', 'host:5000/a/b'],
    ['localhost/x', 'localhost/x'],
    ['quay.io/library/x', 'quay.io/library/x'],
  ])('familiarName(%s) is %s', (input, familiar) => {
    expect(familiarName(parseReference(input))).toBe(familiar);
  });

  test('familiarString keeps the tag and digest', () => {
    expect(familiarString(parseReference('busybox'))).toBe('busybox:latest');
    expect(familiarString(parseReference(`localhost:5000/a@${DIGEST}`))).toBe(`localhost:5000/a@${DIGEST}`);
  });

  test('repositoryName is domain/path', () => {
    expect(repositoryName(parseReference('busybox:1'))).toBe('docker.io/library/busybox');
  });

  test('withTag and withDigest replace what the reference points at', () => {
    const ref = parseReference(`busybox:1@${DIGEST}`);
    expect(withTag(ref, 'v2')).toEqual({ domain: 'docker.io', path: 'library/busybox', tag: 'v2' });
    const d2 = `sha256:${'a'.repeat(64)}`;
    expect(withDigest(ref, d2)).toEqual({ domain: 'docker.io', path: 'library/busybox', digest: d2 });
    expect(() => withTag(ref, 'bad tag')).toThrow(CtrError);
    expect(() => withTag(ref, '.x')).toThrow(CtrError);
    expect(() => withDigest(ref, 'sha256:abc')).toThrow(CtrError);
  });

  test('isValidTag follows the tag grammar', () => {
    expect(isValidTag('v1.2-rc_3')).toBe(true);
    expect(isValidTag('_x')).toBe(true);
    expect(isValidTag('-x')).toBe(false);
    expect(isValidTag('a'.repeat(129))).toBe(false);
  });
});

describe('parseRepositoryTag, for ctr tag targets', () => {
  test('defaults the tag to latest and normalizes like parseReference', () => {
    expect(parseRepositoryTag('myapp')).toEqual({ domain: 'docker.io', path: 'library/myapp', tag: 'latest' });
    expect(parseRepositoryTag('localhost:5000/me/app:v2')).toEqual({ domain: 'localhost:5000', path: 'me/app', tag: 'v2' });
  });

  test('refuses digests and invalid names', () => {
    expect(errorOf(() => parseRepositoryTag(`app@${DIGEST}`)).message).toContain('refusing to create a tag with a digest reference');
    expect(errorOf(() => parseRepositoryTag('App')).message).toContain('must be lowercase');
  });
});
