import { describe, expect, it } from 'vitest';
import { buildIdMap, computeIdMapping, maxContainerId, parseSubIds } from '../../src/runtime/idmap.js';
import { hasFileCapabilities } from '../../src/runtime/userns.js';

const SUBUID = `# comment
alice:100000:65536
bob:165536:65536
1003:231072:1000
alice:300000:10
broken line
carol:x:5
`;

describe('subordinate id files', () => {
  it('finds a user by name and by uid, combining several ranges', () => {
    expect(parseSubIds(SUBUID, 'alice', 1001)).toEqual([
      { start: 100000, count: 65536 },
      { start: 300000, count: 10 },
    ]);
    expect(parseSubIds(SUBUID, 'dave', 1003)).toEqual([{ start: 231072, count: 1000 }]);
    expect(parseSubIds(SUBUID, 'carol', 1004)).toEqual([]);
  });

  it('maps container 0 to the user and the ranges after it', () => {
    const map = buildIdMap(1001, parseSubIds(SUBUID, 'alice', 1001));
    expect(map).toEqual([
      { containerID: 0, hostID: 1001, size: 1 },
      { containerID: 1, hostID: 100000, size: 65536 },
      { containerID: 65537, hostID: 300000, size: 10 },
    ]);
    expect(maxContainerId(map)).toBe(65546);
  });
});

describe('id mapping for the current user', () => {
  it('needs no namespace for root', () => {
    expect(computeIdMapping({ uid: 0, gid: 0, user: 'root', subuid: '', subgid: '', haveMapTools: false })).toMatchObject({ mode: 'root', uidMap: [] });
  });

  it('is rootless with the subuid and subgid ranges', () => {
    const m = computeIdMapping({ uid: 1001, gid: 1002, user: 'alice', subuid: SUBUID, subgid: 'alice:500000:65536\n', haveMapTools: true });
    expect(m.mode).toBe('rootless');
    expect(m.warning).toBeUndefined();
    expect(m.gidMap).toEqual([
      { containerID: 0, hostID: 1002, size: 1 },
      { containerID: 1, hostID: 500000, size: 65536 },
    ]);
  });

  it('falls back to a single id with a warning that says how to fix it', () => {
    const noRange = computeIdMapping({ uid: 1005, gid: 1005, user: 'erin', subuid: SUBUID, subgid: SUBUID, haveMapTools: true });
    expect(noRange.mode).toBe('single');
    expect(noRange.uidMap).toEqual([{ containerID: 0, hostID: 1005, size: 1 }]);
    expect(noRange.warning).toMatch(/erin has no range in \/etc\/subuid.*usermod --add-subuids/);
    const noTools = computeIdMapping({ uid: 1001, gid: 1001, user: 'alice', subuid: SUBUID, subgid: SUBUID, haveMapTools: false });
    expect(noTools.mode).toBe('single');
    expect(noTools.warning).toMatch(/uidmap package/);
  });
});

describe('capabilities in the namespace', () => {
  it('requires chown, fowner, mknod and the like in CapEff', () => {
    expect(hasFileCapabilities('CapInh:\t0\nCapEff:\t000001ffffffffff\n')).toBe(true);
    expect(hasFileCapabilities('CapEff:\t0000000000000000\n')).toBe(false);
    expect(hasFileCapabilities('CapEff:\t0000000000000001\n')).toBe(false);
  });
});
