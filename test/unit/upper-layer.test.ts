import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeUpperLayer } from '../../src/archive/diff.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the layer of a running container', () => {
  it('skips a file removed after its directory was read, and pads one removed after its header, as tar does', () => {
    dir = mkdtempSync(join(tmpdir(), 'ctr-upper-'));
    const upper = join(dir, 'upper');
    mkdirSync(upper);
    writeFileSync(join(upper, 'a'), 'aaaa');
    writeFileSync(join(upper, 'b'), 'bb');
    writeFileSync(join(upper, 'c'), 'c');
    const chunks: Buffer[] = [];
    writeUpperLayer(
      upper,
      (chunk) => {
        // the first chunk is a's header: the container removes a and b right then
        if (chunks.length === 0) {
          unlinkSync(join(upper, 'a'));
          unlinkSync(join(upper, 'b'));
        }
        chunks.push(Buffer.from(chunk));
      },
      { lowers: [] },
    );
    const tar = Buffer.concat(chunks);
    expect(execFileSync('tar', ['-tf', '-'], { input: tar }).toString()).toBe('a\nc\n');
    expect(execFileSync('tar', ['-xOf', '-', 'a'], { input: tar })).toEqual(Buffer.alloc(4));
    expect(execFileSync('tar', ['-xOf', '-', 'c'], { input: tar }).toString()).toBe('c');
  });
});
