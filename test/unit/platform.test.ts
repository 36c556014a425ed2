import { describe, expect, test } from 'vitest';
import { CtrError } from '../../src/errors.js';
import {
  compatiblePlatforms,
  formatPlatform,
  hostPlatform,
  matchPlatform,
  normalizePlatform,
  parsePlatform,
  platformForNodeArch,
  selectManifest,
} from '../../src/image/platform.js';
import { MediaType, type Descriptor, type Platform } from '../../src/image/types.js';

const amd64Host: Platform = { os: 'linux', architecture: 'amd64' };

describe('the host platform in OCI terms', () => {
  test.each([
    ['x64', undefined, 'LE', { os: 'linux', architecture: 'amd64' }],
    ['arm64', undefined, 'LE', { os: 'linux', architecture: 'arm64', variant: 'v8' }],
    ['arm', 7, 'LE', { os: 'linux', architecture: 'arm', variant: 'v7' }],
    ['arm', '6', 'LE', { os: 'linux', architecture: 'arm', variant: 'v6' }],
    ['arm', undefined, 'LE', { os: 'linux', architecture: 'arm', variant: 'v7' }],
    ['ia32', undefined, 'LE', { os: 'linux', architecture: '386' }],
    ['ppc64', undefined, 'LE', { os: 'linux', architecture: 'ppc64le' }],
    ['ppc64', undefined, 'BE', { os: 'linux', architecture: 'ppc64' }],
    ['s390x', undefined, 'BE', { os: 'linux', architecture: 's390x' }],
    ['riscv64', undefined, 'LE', { os: 'linux', architecture: 'riscv64' }],
    ['mipsel', undefined, 'LE', { os: 'linux', architecture: 'mipsle' }],
  ])('node arch %s (arm_version %s, %s)', (arch, armVersion, order, expected) => {
    expect(platformForNodeArch(arch, armVersion, order)).toEqual(expected);
  });

  test.runIf(process.arch === 'x64')('this x64 machine is linux/amd64', () => {
    expect(hostPlatform()).toEqual({ os: 'linux', architecture: 'amd64' });
  });
});

describe('parsePlatform reads --platform values like containerd', () => {
  test.each([
    ['linux/arm64/v8', { os: 'linux', architecture: 'arm64', variant: 'v8' }],
    ['linux/arm64', { os: 'linux', architecture: 'arm64' }],
    ['linux/aarch64', { os: 'linux', architecture: 'arm64' }],
    ['linux/amd64', { os: 'linux', architecture: 'amd64' }],
    ['linux/x86_64', { os: 'linux', architecture: 'amd64' }],
    ['linux/amd64/v3', { os: 'linux', architecture: 'amd64', variant: 'v3' }],
    ['linux/arm', { os: 'linux', architecture: 'arm' }],
    ['linux/armhf', { os: 'linux', architecture: 'arm' }],
    ['linux/armel', { os: 'linux', architecture: 'arm', variant: 'v6' }],
    ['linux/arm/v6', { os: 'linux', architecture: 'arm', variant: 'v6' }],
    ['linux/arm/7', { os: 'linux', architecture: 'arm', variant: 'v7' }],
    ['linux/i386', { os: 'linux', architecture: '386' }],
    ['Linux/AMD64', { os: 'linux', architecture: 'amd64' }],
    ['windows/amd64', { os: 'windows', architecture: 'amd64' }],
    ['arm64', { os: 'linux', architecture: 'arm64' }],
    ['linux', { os: 'linux', architecture: 'amd64' }],
  ])('%s', (spec, expected) => {
    expect(parsePlatform(spec, amd64Host)).toEqual(expected);
  });

  test.each(['', 'linux/', 'linux/amd64/v2/x', 'linux/am d64', 'foo', 'linux/*'])('%j is rejected', (spec) => {
    expect(() => parsePlatform(spec, amd64Host)).toThrow(CtrError);
  });

  test('formatPlatform prints os/arch[/variant]', () => {
    expect(formatPlatform({ os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe('linux/arm64/v8');
    expect(formatPlatform({ os: 'linux', architecture: 'amd64' })).toBe('linux/amd64');
    expect(formatPlatform(parsePlatform('linux/arm/v7', amd64Host))).toBe('linux/arm/v7');
  });

  test('normalizePlatform resolves aliases and default variants', () => {
    expect(normalizePlatform({ os: 'linux', architecture: 'aarch64', variant: 'v8' })).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(normalizePlatform({ os: 'linux', architecture: 'arm' })).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(normalizePlatform({ os: 'linux', architecture: 'amd64', variant: 'v1' })).toEqual({ os: 'linux', architecture: 'amd64' });
  });
});

describe('matchPlatform follows containerd fallbacks', () => {
  const p = (s: string) => parsePlatform(s, amd64Host);
  test.each([
    ['linux/arm64', 'linux/arm64/v8', true],
    ['linux/arm64/v8', 'linux/arm64', true],
    ['linux/arm64', 'linux/arm/v7', true],
    ['linux/arm64', 'linux/arm/v5', true],
    ['linux/arm64', 'linux/amd64', false],
    ['linux/arm64', 'linux/arm64/v8.2', false],
    ['linux/arm64/v8.2', 'linux/arm64/v8.1', true],
    ['linux/arm64/v9', 'linux/arm64/v8.5', true],
    ['linux/arm/v7', 'linux/arm/v6', true],
    ['linux/arm/v7', 'linux/arm/v8', false],
    ['linux/arm/v6', 'linux/arm/v7', false],
    ['linux/amd64', 'linux/amd64/v3', true],
    ['linux/amd64', 'linux/386', true],
    ['linux/amd64/v2', 'linux/amd64/v3', false],
    ['linux/amd64/v3', 'linux/amd64/v2', true],
    ['linux/amd64/v3', 'linux/amd64', true],
    ['linux/amd64', 'windows/amd64', false],
    ['linux/386', 'linux/amd64', false],
    ['linux/s390x', 'linux/s390x', true],
  ])('want %s, candidate %s -> %s', (want, candidate, ok) => {
    expect(matchPlatform(p(want), p(candidate))).toBe(ok);
  });

  test('candidates are ranked best first', () => {
    expect(compatiblePlatforms({ os: 'linux', architecture: 'arm64' }).map(formatPlatform)).toEqual([
      'linux/arm64',
      'linux/arm/v8',
      'linux/arm/v7',
      'linux/arm/v6',
      'linux/arm/v5',
    ]);
    expect(compatiblePlatforms({ os: 'linux', architecture: 'amd64' }).map(formatPlatform)).toEqual([
      'linux/amd64',
      'linux/amd64/v2',
      'linux/amd64/v3',
      'linux/amd64/v4',
      'linux/386',
    ]);
  });
});

describe('selectManifest picks the image for a platform from an index', () => {
  let n = 0;
  const desc = (platform?: Platform, annotations?: Record<string, string>): Descriptor => ({
    mediaType: MediaType.OciManifest,
    digest: `sha256:${String(++n).padStart(64, '0')}`,
    size: 100,
    ...(platform ? { platform } : {}),
    ...(annotations ? { annotations } : {}),
  });
  const amd64 = desc({ os: 'linux', architecture: 'amd64' });
  const armv6 = desc({ os: 'linux', architecture: 'arm', variant: 'v6' });
  const armv7 = desc({ os: 'linux', architecture: 'arm', variant: 'v7' });
  const arm64 = desc({ os: 'linux', architecture: 'arm64', variant: 'v8' });
  const i386 = desc({ os: 'linux', architecture: '386' });
  const attestAmd64 = desc(
    { os: 'unknown', architecture: 'unknown' },
    { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': amd64.digest },
  );
  const index = [attestAmd64, i386, armv6, armv7, arm64, amd64];

  test('exact matches win over fallbacks', () => {
    expect(selectManifest(index, { os: 'linux', architecture: 'amd64' })).toBe(amd64);
    expect(selectManifest(index, { os: 'linux', architecture: 'arm64' })).toBe(arm64);
    expect(selectManifest(index, { os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe(arm64);
    expect(selectManifest(index, { os: 'linux', architecture: 'arm', variant: 'v7' })).toBe(armv7);
    expect(selectManifest(index, { os: 'linux', architecture: 'arm', variant: 'v6' })).toBe(armv6);
    expect(selectManifest(index, { os: 'linux', architecture: '386' })).toBe(i386);
  });

  test('fallbacks are used when the exact platform is missing', () => {
    expect(selectManifest([armv6, armv7], { os: 'linux', architecture: 'arm64' })).toBe(armv7);
    expect(selectManifest([i386], { os: 'linux', architecture: 'amd64' })).toBe(i386);
    expect(selectManifest([armv6], { os: 'linux', architecture: 'arm', variant: 'v7' })).toBe(armv6);
  });

  test('nothing is returned when no image runs on the platform', () => {
    expect(selectManifest(index, { os: 'linux', architecture: 'arm', variant: 'v5' })).toBeUndefined();
    expect(selectManifest(index, { os: 'linux', architecture: 's390x' })).toBeUndefined();
    expect(selectManifest([attestAmd64], { os: 'linux', architecture: 'amd64' })).toBeUndefined();
  });

  test('amd64 microarchitecture levels count as amd64, the baseline first', () => {
    const v2 = desc({ os: 'linux', architecture: 'amd64', variant: 'v2' });
    const v3 = desc({ os: 'linux', architecture: 'amd64', variant: 'v3' });
    expect(selectManifest([v3, v2, amd64], { os: 'linux', architecture: 'amd64' })).toBe(amd64);
    expect(selectManifest([v3, v2], { os: 'linux', architecture: 'amd64' })).toBe(v2);
    expect(selectManifest([v3, amd64], { os: 'linux', architecture: 'amd64', variant: 'v2' })).toBe(amd64);
  });

  test('attestation manifests are never selected, even with a real platform', () => {
    const sneaky = desc({ os: 'linux', architecture: 'amd64' }, { 'vnd.docker.reference.type': 'attestation-manifest' });
    expect(selectManifest([sneaky, i386], { os: 'linux', architecture: 'amd64' })).toBe(i386);
  });

  test('an index whose entries carry no platform gives its first image', () => {
    const a = desc();
    const b = desc();
    expect(selectManifest([attestAmd64, a, b], { os: 'linux', architecture: 'amd64' })).toBe(a);
    expect(selectManifest([a, arm64], { os: 'linux', architecture: 'amd64' })).toBeUndefined();
  });
});
