import { execFileSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { TarWriter, type TarEntry } from '../../src/archive/tar-writer.js';
import { TarParser, TarType, type TarHeader } from '../../src/archive/tar.js';

async function write(entries: [TarEntry, Buffer?][]): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const tar = new TarWriter(out);
  for (const [e, content] of entries) await tar.add({ ...e, size: content?.length ?? 0 }, content);
  await tar.finish();
  return Buffer.concat(chunks);
}

function read(tar: Buffer): { header: TarHeader; content: Buffer }[] {
  const out: { header: TarHeader; content: Buffer }[] = [];
  let parts: Buffer[] = [];
  const parser = new TarParser({
    raw: () => {},
    entry: (header) => {
      parts = [];
      out.push({ header, content: Buffer.alloc(0) });
    },
    data: (b) => parts.push(Buffer.from(b)),
    entryEnd: () => {
      out[out.length - 1]!.content = Buffer.concat(parts);
    },
  });
  parser.write(tar);
  parser.end();
  return out;
}

describe('tar writer', () => {
  const longName = `${'d'.repeat(120)}/${'f'.repeat(120)}`;
  const entries: [TarEntry, Buffer?][] = [
    [{ name: 'etc/', type: TarType.Directory, mode: 0o755, uid: 0, gid: 0, mtime: 1700000000 }],
    [{ name: 'etc/passwd', type: TarType.File, mode: 0o644, uid: 1000, gid: 100, mtime: 1700000001 }, Buffer.from('root:x:0:0\n')],
    [{ name: 'bin/su', type: TarType.File, mode: 0o4755, uid: 0, gid: 0, mtime: 1.5 }, Buffer.alloc(1000, 7)],
    [{ name: 'big-id', type: TarType.File, uid: 3_000_000, gid: 4_000_000, mtime: 0 }, Buffer.from('x')],
    [{ name: longName, type: TarType.File, mtime: 0 }, Buffer.from('long')],
    [{ name: 'link', type: TarType.Symlink, linkname: `/${'t'.repeat(150)}` }],
    [{ name: 'hard', type: TarType.HardLink, linkname: 'etc/passwd' }],
    [{ name: 'cap', type: TarType.File, xattrs: new Map([['security.capability', Buffer.from([1, 0, 0, 2, 0x20, 0, 0, 0])], ['user.note', Buffer.from('ünï')]]) }, Buffer.from('c')],
    [{ name: 'dev/null', type: TarType.CharDevice, mode: 0o666, devmajor: 1, devminor: 3 }],
  ];

  it('writes members that our reader gives back field for field', async () => {
    const tar = await write(entries);
    expect(tar.length % 512).toBe(0);
    const got = read(tar);
    expect(got.map((g) => g.header.name)).toEqual(entries.map(([e]) => e.name));
    for (const [i, [e, content]] of entries.entries()) {
      const h = got[i]!.header;
      for (const key of ['type', 'linkname', 'mode', 'uid', 'gid', 'mtime', 'devmajor', 'devminor'] as const) {
        if (e[key] !== undefined) expect(h[key], `${e.name} ${key}`).toEqual(e[key]);
      }
      expect(got[i]!.content.equals(content ?? Buffer.alloc(0))).toBe(true);
      expect(h.xattrs).toEqual(e.xattrs ?? new Map());
    }
  });

  it('writes archives GNU tar lists with the same names, owners and link targets', async () => {
    const tar = await write(entries);
    const listing = execFileSync('tar', ['-tv', '--numeric-owner', '-f', '-'], { input: tar, encoding: 'utf8' });
    expect(listing).toContain(longName);
    expect(listing).toMatch(/-rwsr-xr-x 0\/0 +1000 .* bin\/su/);
    expect(listing).toMatch(/3000000\/4000000 .* big-id/);
    expect(listing).toContain(`link -> /${'t'.repeat(150)}`);
    expect(listing).toContain('hard link to etc/passwd');
  });

  it('writes names that are not UTF-8 byte for byte, short, split and long, as GNU tar reads them back', async () => {
    // Byte strings: '\xff' is the single byte 0xff.
    const odd = [`\xff`, `${'p'.repeat(60)}\xfe/${'q'.repeat(60)}\xff`, `${'a'.repeat(120)}\xff`];
    const tar = await write([...odd.map((name): [TarEntry, Buffer] => [{ name, type: TarType.File }, Buffer.from('x')]), [{ name: 'l', type: TarType.Symlink, linkname: `${'t'.repeat(120)}\xfd` }]]);
    expect(read(tar).map((g) => g.header.name)).toEqual([...odd, 'l']);
    expect(read(tar)[3]!.header.linkname).toBe(`${'t'.repeat(120)}\xfd`);
    const listing = execFileSync('tar', ['-tv', '--quoting-style=literal', '-f', '-'], { input: tar }).toString('latin1');
    expect(listing.split('\n').filter(Boolean).map((l) => l.split(/\s+/).slice(5).join(' '))).toEqual([...odd, `l -> ${'t'.repeat(120)}\xfd`]);
  });

  it('refuses a name that is text rather than a byte string', async () => {
    const out = new PassThrough();
    out.resume();
    await expect(new TarWriter(out).add({ name: 'caf\u00e9\u20ac', type: TarType.File })).rejects.toThrow(/not a byte string/);
  });

  it('refuses content that does not match the size it announced', async () => {
    const out = new PassThrough();
    out.resume();
    const tar = new TarWriter(out);
    await expect(tar.add({ name: 'f', type: TarType.File, size: 10 }, Buffer.from('short'))).rejects.toThrow(/changed size/);
  });
});
