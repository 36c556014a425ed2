import { describe, expect, it } from 'vitest';
import { cleanMemberPath, UnsafeLayerError } from '../../src/archive/apply.js';
import { parseNumeric, TarFormatError, TarParser, type TarHeader, type TarSink } from '../../src/archive/tar.js';
import { sniffCompression } from '../../src/archive/unpack.js';
import { gzip, makeLayer, zstd, type LayerEntry, type LayerOptions } from '../fixtures/layers.js';

interface Seen {
  header: TarHeader;
  content: Buffer;
}

/** Parses a tar fed in pieces of `step` bytes; returns the entries and the bytes that were not content. */
function parse(tar: Buffer, step = tar.length): { entries: Seen[]; rebuilt: Buffer } {
  const entries: Seen[] = [];
  const stream: Buffer[] = [];
  let parts: Buffer[] = [];
  const sink: TarSink = {
    raw: (b) => stream.push(Buffer.from(b)),
    entry: (header) => {
      parts = [];
      entries.push({ header, content: Buffer.alloc(0) });
    },
    data: (b) => {
      parts.push(Buffer.from(b));
      stream.push(Buffer.from(b));
    },
    entryEnd: () => {
      entries[entries.length - 1]!.content = Buffer.concat(parts);
    },
  };
  const parser = new TarParser(sink);
  for (let i = 0; i < tar.length; i += step) parser.write(tar.subarray(i, i + step));
  parser.end();
  return { entries, rebuilt: Buffer.concat(stream) };
}

function roundTrip(entries: LayerEntry[], opts?: LayerOptions): Seen[] {
  const tar = makeLayer(entries, opts);
  const whole = parse(tar);
  expect(whole.rebuilt.equals(tar)).toBe(true);
  const byteByByte = parse(tar, 7);
  expect(byteByByte.rebuilt.equals(tar)).toBe(true);
  expect(byteByByte.entries.map((e) => e.header)).toEqual(whole.entries.map((e) => e.header));
  return whole.entries;
}

describe('tar reader', () => {
  it('reads ustar members of every type with their metadata', () => {
    const seen = roundTrip([
      { type: 'dir', path: 'etc', mode: 0o755, mtime: 1600000000 },
      { type: 'file', path: 'etc/passwd', content: 'root:x:0:0\n', mode: 0o4755, uid: 12, gid: 34 },
      { type: 'symlink', path: 'bin', target: 'usr/bin' },
      { type: 'hardlink', path: 'etc/passwd2', target: 'etc/passwd' },
      { type: 'fifo', path: 'run/fifo', mode: 0o600 },
      { type: 'char', path: 'dev/null', major: 1, minor: 3 },
      { type: 'block', path: 'dev/sda', major: 8, minor: 0 },
    ]);
    expect(seen.map((e) => [e.header.name, e.header.type])).toEqual([
      ['etc/', '5'],
      ['etc/passwd', '0'],
      ['bin', '2'],
      ['etc/passwd2', '1'],
      ['run/fifo', '6'],
      ['dev/null', '3'],
      ['dev/sda', '4'],
    ]);
    expect(seen[0]!.header.mtime).toBe(1600000000);
    expect(seen[1]!.header).toMatchObject({ mode: 0o4755, uid: 12, gid: 34, size: 11 });
    expect(seen[1]!.content.toString()).toBe('root:x:0:0\n');
    expect(seen[2]!.header.linkname).toBe('usr/bin');
    expect(seen[5]!.header).toMatchObject({ devmajor: 1, devminor: 3 });
  });

  it('applies PAX long paths, link paths, fractional mtimes and xattrs', () => {
    const longPath = `${'d'.repeat(120)}/${'f'.repeat(130)}`;
    const longTarget = 't'.repeat(200);
    const seen = roundTrip([
      { type: 'file', path: longPath, content: 'x', mtime: 1700000000.25, xattrs: { 'user.k': 'v', 'security.capability': Buffer.from([1, 0, 0, 2]) } },
      { type: 'symlink', path: 'l', target: longTarget },
    ]);
    expect(seen[0]!.header.name).toBe(longPath);
    expect(seen[0]!.header.mtime).toBe(1700000000.25);
    expect(seen[0]!.header.xattrs.get('user.k')?.toString()).toBe('v');
    expect(seen[0]!.header.xattrs.get('security.capability')).toEqual(Buffer.from([1, 0, 0, 2]));
    expect(seen[1]!.header.linkname).toBe(longTarget);
  });

  it('applies GNU long names and long links', () => {
    const longPath = `gnu/${'n'.repeat(200)}`;
    const seen = roundTrip(
      [
        { type: 'file', path: longPath, content: 'gnu' },
        { type: 'hardlink', path: `${longPath}-2`, target: longPath },
      ],
      { longNames: 'gnu' },
    );
    expect(seen[0]!.header.name).toBe(longPath);
    expect(seen[1]!.header).toMatchObject({ name: `${longPath}-2`, linkname: longPath, type: '1' });
  });

  it('reads base-256 numbers for ids beyond the octal fields', () => {
    const seen = roundTrip([{ type: 'file', path: 'big-ids', content: 'x', uid: 3_000_000, gid: 70_000_000 }], { bigNumbers: 'base256' });
    expect(seen[0]!.header).toMatchObject({ uid: 3_000_000, gid: 70_000_000 });
    const field = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]);
    expect(parseNumeric(field, 0, 12, 'mtime')).toBe(-2);
    expect(parseNumeric(Buffer.from('0000644 \0'), 0, 8, 'mode')).toBe(0o644);
  });

  it('keeps global PAX headers, extra end blocks and trailing bytes in the raw stream', () => {
    const seen = roundTrip([{ type: 'file', path: 'a', content: 'a' }], {
      globalPax: { comment: 'made by a test' },
      endBlocks: 3,
      recordSize: 10240,
      trailer: Buffer.from('junk after the end'),
    });
    expect(seen).toHaveLength(1);
  });

  it('treats an archive without end blocks as complete', () => {
    const tar = makeLayer([{ type: 'file', path: 'a', content: 'abc' }], { endBlocks: 0 });
    expect(parse(tar).entries).toHaveLength(1);
  });

  it('rejects a truncated archive naming the member', () => {
    const tar = makeLayer([{ type: 'file', path: 'cut/here', content: 'x'.repeat(2000) }]);
    expect(() => parse(tar.subarray(0, 1200))).toThrow(/truncated in "cut\/here"/);
  });

  it('rejects a header with a bad checksum', () => {
    const tar = makeLayer([{ type: 'file', path: 'a', content: 'a' }]);
    tar[10] = 0x41;
    expect(() => parse(tar)).toThrow(TarFormatError);
  });

  it('recognises gzip, zstd and plain tar by their first bytes', () => {
    const tar = makeLayer([{ type: 'file', path: 'a', content: 'a' }]);
    expect(sniffCompression(gzip(tar))).toBe('gzip');
    expect(sniffCompression(zstd(tar))).toBe('zstd');
    expect(sniffCompression(tar)).toBe('none');
    expect(sniffCompression(Buffer.from('PK\x03\x04 not a layer'))).toBeUndefined();
  });
});

describe('member paths', () => {
  it('cleans relative names the way tar does', () => {
    expect(cleanMemberPath('./etc/passwd')).toBe('etc/passwd');
    expect(cleanMemberPath('usr//bin/')).toBe('usr/bin');
    expect(cleanMemberPath('a/b/../c')).toBe('a/c');
    expect(cleanMemberPath('./')).toBe('');
  });

  it('refuses names that leave the layer or are absolute', () => {
    expect(() => cleanMemberPath('../etc/passwd')).toThrow(UnsafeLayerError);
    expect(() => cleanMemberPath('a/../../x')).toThrow(/points outside the layer/);
    expect(() => cleanMemberPath('/etc/passwd')).toThrow(/absolute path/);
  });
});
