import { describe, expect, it } from 'vitest';
import { randomBelow, randomBuffer, randomHex } from '../../src/random.js';

describe('random IDs without node:crypto', () => {
  it('gives as many bytes as asked, different each time', () => {
    expect(randomBuffer(100)).toHaveLength(100);
    const a = randomHex(32);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(randomHex(32)).not.toBe(a);
  });

  it('draws integers below the bound, every one of them', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const v = randomBelow(7);
      expect(Number.isInteger(v) && v >= 0 && v < 7).toBe(true);
      seen.add(v);
    }
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(randomBelow(1)).toBe(0);
  });
});
