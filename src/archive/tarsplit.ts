import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';

/**
 * ctr's tar-split: everything of a layer tar except the content of the files that are on
 * disk in diff/, so the exact tar can be rebuilt later (save, push) without keeping a copy.
 *
 * File `tar-split` = zstd(MAGIC, records...). Each record is a type byte then fields;
 * numbers are unsigned LEB128 varints:
 *   0x01 RAW     len, bytes       header blocks, PAX/GNU records, padding, end blocks, trailing bytes
 *   0x02 FILE    len, path, size  `size` bytes read from diff/<path> (path as raw bytes)
 *   0x03 INLINE  len, bytes       content that is not on disk (a path written twice, skipped entries)
 *   0x00 END     size, sha256     total tar length and its 32-byte digest, checked on reassembly
 */
export const TAR_SPLIT_FILE = 'tar-split';
const MAGIC = Buffer.from('ctr-tar-split 1\n');
const RAW = 1;
const FILE = 2;
const INLINE = 3;
const END = 0;

type Rec = { kind: typeof RAW; parts: Buffer[] } | { kind: typeof FILE; path: string; size: number } | { kind: typeof INLINE; parts: Buffer[] };

const ARENA = 1 << 20;

/** Collects the records while a layer is unpacked; FILE records can later become INLINE. */
export class TarSplitRecorder {
  private records: Rec[] = [];
  private raw: Buffer[] | undefined;
  private arena = Buffer.allocUnsafe(ARENA);
  private arenaPos = 0;
  private inline: Buffer[] | undefined;

  /** Copies bytes into an arena: the parser's buffers are views into short-lived chunks. */
  addRaw(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (!this.raw) {
      this.raw = [];
      this.records.push({ kind: RAW, parts: this.raw });
    }
    this.raw.push(this.copy(bytes));
  }

  /** Content of the current entry lives at diff/<path>; returns the record's index. */
  addFile(path: string, size: number): number {
    this.raw = undefined;
    this.records.push({ kind: FILE, path, size });
    return this.records.length - 1;
  }

  beginInline(): void {
    this.raw = undefined;
    this.inline = [];
    this.records.push({ kind: INLINE, parts: this.inline });
  }

  addInline(bytes: Buffer): void {
    this.inline!.push(Buffer.from(bytes));
  }

  endInline(): void {
    this.inline = undefined;
  }

  /** The file a FILE record points at is about to be replaced: keep its content here instead. */
  makeInline(index: number, content: Buffer): void {
    const rec = this.records[index]!;
    if (rec.kind !== FILE) throw new Error('tar-split: record is not a file reference');
    if (content.length !== rec.size) throw new Error(`tar-split: ${rec.path} changed size while unpacking`);
    this.records[index] = { kind: INLINE, parts: [content] };
  }

  serialize(tarSize: number, sha256: Buffer): Buffer {
    const out: Buffer[] = [MAGIC];
    for (const rec of this.records) {
      if (rec.kind === FILE) {
        const path = Buffer.from(rec.path, 'latin1');
        out.push(Buffer.from([FILE]), varint(path.length), path, varint(rec.size));
      } else {
        const len = rec.parts.reduce((n, p) => n + p.length, 0);
        out.push(Buffer.from([rec.kind]), varint(len), ...rec.parts);
      }
    }
    out.push(Buffer.from([END]), varint(tarSize), sha256);
    return zstdCompressSync(Buffer.concat(out));
  }

  private copy(bytes: Buffer): Buffer {
    if (bytes.length > ARENA / 4) return Buffer.from(bytes);
    if (this.arenaPos + bytes.length > ARENA) {
      this.arena = Buffer.allocUnsafe(ARENA);
      this.arenaPos = 0;
    }
    const view = this.arena.subarray(this.arenaPos, this.arenaPos + bytes.length);
    bytes.copy(view);
    this.arenaPos += bytes.length;
    return view;
  }
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    bytes.push(b);
  } while (n > 0);
  return Buffer.from(bytes);
}

class Cursor {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  byte(): number {
    if (this.pos >= this.buf.length) throw new Error('tar-split is truncated');
    return this.buf[this.pos++]!;
  }
  varint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      const b = this.byte();
      value += (b & 0x7f) * scale;
      if (!(b & 0x80)) return value;
      scale *= 128;
    }
  }
  bytes(n: number): Buffer {
    if (this.pos + n > this.buf.length) throw new Error('tar-split is truncated');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

const READ_CHUNK = 1 << 20;

/**
 * Rebuilds the exact layer tar from layerDir/diff and layerDir/tar-split, checking its
 * length and sha256 at the end (a changed file makes the stream fail, never lie).
 */
export async function* reassembleTar(layerDir: string): AsyncGenerator<Buffer> {
  const data = zstdDecompressSync(readFileSync(join(layerDir, TAR_SPLIT_FILE)));
  if (!data.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error(`${join(layerDir, TAR_SPLIT_FILE)} is not a ctr tar-split file`);
  const cur = new Cursor(data);
  cur.pos = MAGIC.length;
  const diffPrefix = Buffer.from(join(layerDir, 'diff') + '/');
  const hash = createHash('sha256');
  let total = 0;
  for (;;) {
    const kind = cur.byte();
    if (kind === RAW || kind === INLINE) {
      const bytes = cur.bytes(cur.varint());
      hash.update(bytes);
      total += bytes.length;
      if (bytes.length > 0) yield bytes;
    } else if (kind === FILE) {
      const pathBytes = cur.bytes(cur.varint());
      const size = cur.varint();
      const shown = pathBytes.toString('utf8');
      const fd = openSync(Buffer.concat([diffPrefix, pathBytes]), constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        if (fstatSync(fd).size !== size) throw new Error(`the layer file ${shown} changed since it was unpacked (size differs)`);
        let left = size;
        while (left > 0) {
          const chunk = Buffer.allocUnsafe(Math.min(left, READ_CHUNK));
          const n = readSync(fd, chunk, 0, chunk.length, null);
          if (n === 0) throw new Error(`the layer file ${shown} changed since it was unpacked (shorter)`);
          const part = n === chunk.length ? chunk : chunk.subarray(0, n);
          hash.update(part);
          total += n;
          left -= n;
          yield part;
        }
      } finally {
        closeSync(fd);
      }
    } else if (kind === END) {
      const size = cur.varint();
      const digest = cur.bytes(32);
      if (size !== total || !hash.digest().equals(digest)) {
        throw new Error(`the layer in ${layerDir} no longer matches its digest: its files changed since it was unpacked`);
      }
      return;
    } else {
      throw new Error(`tar-split in ${layerDir} has an unknown record type ${kind}`);
    }
  }
}
