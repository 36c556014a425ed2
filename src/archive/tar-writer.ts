import type { Readable, Writable } from 'node:stream';
import { BLOCK, TarType, type TarHeader } from './tar.js';

/** What a writer needs of a member; the rest of TarHeader has defaults. Names are byte strings, as TarHeader's. */
export type TarEntry = Pick<TarHeader, 'name' | 'type'> & Partial<Omit<TarHeader, 'name' | 'type'>>;

const USTAR_NAME = 100;
const USTAR_PREFIX = 155;
const MAX_OCTAL_11 = 0o77777777777;
const MAX_OCTAL_7 = 0o7777777;

function octal(block: Buffer, offset: number, length: number, value: number): void {
  block.write(`${Math.trunc(value).toString(8).padStart(length - 1, '0')}\0`, offset, length, 'latin1');
}

function paxRecord(key: string, value: Buffer | string): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), typeof value === 'string' ? Buffer.from(value) : value, Buffer.from('\n')]);
  // The length counts its own digits.
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** Splits a long name into ustar's prefix and name fields, when it fits. */
function splitName(name: Buffer): { prefix: Buffer; name: Buffer } | undefined {
  if (name.length <= USTAR_NAME) return { prefix: Buffer.alloc(0), name };
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== 0x2f) continue;
    if (i <= USTAR_PREFIX && name.length - i - 1 <= USTAR_NAME && name.length - i - 1 > 0) {
      return { prefix: name.subarray(0, i), name: name.subarray(i + 1) };
    }
  }
  return undefined;
}

function ustarBlock(e: Required<Omit<TarEntry, 'atime' | 'xattrs'>>, name: Buffer, prefix: Buffer, linkname: Buffer): Buffer {
  const block = Buffer.alloc(BLOCK);
  name.copy(block, 0, 0, Math.min(name.length, USTAR_NAME));
  octal(block, 100, 8, e.mode & 0o7777777);
  octal(block, 108, 8, Math.min(e.uid, MAX_OCTAL_7));
  octal(block, 116, 8, Math.min(e.gid, MAX_OCTAL_7));
  octal(block, 124, 12, Math.min(e.size, MAX_OCTAL_11));
  octal(block, 136, 12, Math.min(Math.max(0, Math.floor(e.mtime)), MAX_OCTAL_11));
  block.write(e.type, 156, 1, 'latin1');
  linkname.copy(block, 157, 0, Math.min(linkname.length, USTAR_NAME));
  block.write('ustar\0' + '00', 257, 8, 'latin1');
  octal(block, 329, 8, e.devmajor);
  octal(block, 337, 8, e.devminor);
  prefix.copy(block, 345, 0, Math.min(prefix.length, USTAR_PREFIX));
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return block;
}

const NOT_A_BYTE = /[^\x00-\xff]/;

/**
 * A byte-string name's raw bytes: names that are not valid UTF-8 go into the archive unchanged,
 * in the ustar fields or a PAX record (as GNU tar writes them; GNU tar warns about hdrcharset).
 */
function nameBytes(name: string): Buffer {
  if (NOT_A_BYTE.test(name)) throw new Error(`internal: the tar member name "${name}" is text, not a byte string`);
  return Buffer.from(name, 'latin1');
}

function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

/**
 * The header blocks of one member: ustar, preceded by a PAX extended header when a name, a link
 * target, an id, a size or a time does not fit, or when the member has xattrs (as Go's
 * archive/tar writes them, so docker and podman read them back alike).
 */
export function encodeHeader(entry: TarEntry): Buffer {
  const e = {
    linkname: '',
    mode: entry.type === TarType.Directory ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    size: 0,
    mtime: 0,
    devmajor: 0,
    devminor: 0,
    ...entry,
  };
  const name = nameBytes(e.name);
  const linkname = nameBytes(e.linkname);
  const pax: Buffer[] = [];
  const split = splitName(name);
  if (!split) pax.push(paxRecord('path', name));
  if (linkname.length > USTAR_NAME) pax.push(paxRecord('linkpath', linkname));
  if (e.uid > MAX_OCTAL_7) pax.push(paxRecord('uid', String(e.uid)));
  if (e.gid > MAX_OCTAL_7) pax.push(paxRecord('gid', String(e.gid)));
  if (e.size > MAX_OCTAL_11) pax.push(paxRecord('size', String(e.size)));
  if (!Number.isInteger(e.mtime)) pax.push(paxRecord('mtime', e.mtime.toFixed(9).replace(/\.?0+$/, '')));
  for (const [key, value] of [...(entry.xattrs ?? new Map<string, Buffer>())].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    pax.push(paxRecord(`SCHILY.xattr.${key}`, value));
  }
  const main = ustarBlock(e, split?.name ?? name.subarray(0, USTAR_NAME), split?.prefix ?? Buffer.alloc(0), linkname);
  if (pax.length === 0) return main;
  const data = Buffer.concat(pax);
  const paxName = Buffer.from(`PaxHeaders.0/${(split?.name ?? name).toString('latin1').slice(-80)}`, 'latin1');
  const head = ustarBlock({ ...e, name: '', type: TarType.PaxHeader, size: data.length, linkname: '', mode: 0o644 }, paxName, Buffer.alloc(0), Buffer.alloc(0));
  return Buffer.concat([head, data, padding(data.length), main]);
}

/** The two zero blocks that end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

/**
 * Writes a tar archive to a stream, honouring back-pressure. Call add() for each member (with
 * its content for regular files), then finish().
 */
export class TarWriter {
  constructor(private readonly out: Writable) {}

  private write(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.out.once('error', onError);
      const ok = this.out.write(chunk, () => undefined);
      const done = () => {
        this.out.off('error', onError);
        resolve();
      };
      if (ok) done();
      else this.out.once('drain', done);
    });
  }

  /** Adds a member; `content` must give exactly entry.size bytes. */
  async add(entry: TarEntry, content?: Buffer | Readable): Promise<void> {
    const size = entry.size ?? 0;
    await this.write(encodeHeader({ ...entry, size }));
    if (size === 0) return;
    if (!content) throw new Error(`internal: tar member ${entry.name} has ${size} bytes but no content`);
    let written = 0;
    if (Buffer.isBuffer(content)) {
      written = content.length;
      await this.write(content);
    } else {
      for await (const chunk of content as AsyncIterable<Buffer>) {
        written += chunk.length;
        if (written > size) throw new Error(`${entry.name} grew while it was being archived`);
        await this.write(chunk);
      }
    }
    if (written !== size) throw new Error(`${entry.name} changed size while it was being archived (${written} of ${size} bytes)`);
    await this.write(padding(size));
  }

  /** Writes the end-of-archive blocks and ends the stream. */
  async finish(): Promise<void> {
    await this.write(END_OF_ARCHIVE);
    await new Promise<void>((resolve, reject) => {
      this.out.once('error', reject);
      this.out.end(resolve);
    });
  }
}
