import { describe, expect, test } from 'vitest';
import { parseChallenges, pickChallenge } from '../../src/registry/challenge.js';

describe('WWW-Authenticate parsing', () => {
  test("Docker Hub's bearer challenge yields realm, service and scope", () => {
    const [c] = parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"');
    expect(c).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' },
    });
  });

  test('a scope with several actions and an insufficient_scope error keeps its commas inside quotes', () => {
    const [c] = parseChallenges('Bearer realm="http://127.0.0.1:1/token", service="svc", scope="repository:a/b:pull,push", error="insufficient_scope"');
    expect(c!.params['scope']).toBe('repository:a/b:pull,push');
    expect(c!.params['error']).toBe('insufficient_scope');
  });

  test('basic challenges and scheme names are case-insensitive', () => {
    expect(parseChallenges('BASIC realm="Registry Realm"')).toEqual([{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
  });

  test('several challenges in one header are all returned, and bearer is preferred', () => {
    const all = parseChallenges('Basic realm="r", Bearer realm="https://t/token",service="s"');
    expect(all.map((c) => c.scheme)).toEqual(['basic', 'bearer']);
    expect(pickChallenge(all)?.scheme).toBe('bearer');
  });

  test('challenges from repeated headers are merged', () => {
    expect(parseChallenges(['Basic realm="a"', 'Bearer realm="b"']).map((c) => c.params['realm'])).toEqual(['a', 'b']);
  });

  test('unquoted values, escaped quotes and token68 credentials are understood', () => {
    expect(parseChallenges('Bearer realm=https://x/token,service=reg')[0]!.params).toEqual({ realm: 'https://x/token', service: 'reg' });
    expect(parseChallenges('Basic realm="say \\"hi\\""')[0]!.params['realm']).toBe('say "hi"');
    expect(parseChallenges('Negotiate abc123==, Basic realm="x"')).toEqual([
      { scheme: 'negotiate', params: { token68: 'abc123==' } },
      { scheme: 'basic', params: { realm: 'x' } },
    ]);
  });

  test('an empty or unknown header offers nothing ctr can answer', () => {
    expect(parseChallenges(undefined)).toEqual([]);
    expect(parseChallenges('')).toEqual([]);
    expect(pickChallenge(parseChallenges('Negotiate'))).toBeUndefined();
  });
});
