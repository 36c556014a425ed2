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
    // One buffer, sized first: thousands of small Buffers and a concat took ~50 ms for a Debian layer.
    const VARINT_MAX = 10;
    let size = MAGIC.length + 1 + VARINT_MAX + sha256.length;
    for (const rec of this.records) {
      size += 1 + VARINT_MAX + (rec.kind === FILE ? rec.path.length + VARINT_MAX : partsLength(rec.parts));
    }
    const out = Buffer.allocUnsafe(size);
    let pos = MAGIC.copy(out, 0);
    const varint = (n: number) => {
      do {
        let b = n % 128;
        n = Math.floor(n / 128);
        if (n > 0) b |= 0x80;
        out[pos++] = b;
      } while (n > 0);
    };
    for (const rec of this.records) {
      out[pos++] = rec.kind;
      if (rec.kind === FILE) {
        // latin1 strings are one byte per character: the path's raw bytes
        varint(rec.path.length);
        pos += out.write(rec.path, pos, 'latin1');
        varint(rec.size);
      } else {
        varint(partsLength(rec.parts));
        for (const p of rec.parts) pos += p.copy(out, pos);
      }
    }
    out[pos++] = END;
    varint(tarSize);
    pos += sha256.copy(out, pos);
    return zstdCompressSync(out.subarray(0, pos));
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

function partsLength(parts: Buffer[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
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

/**
 * Reads back the exact layer tar from layerDir/diff and layerDir/tar-split into the caller's
 * buffers, synchronously (no stream machinery per member: a layer has thousands of small ones).
 * Its length and sha256 are checked at the end: a changed file makes the read fail, never lie.
 */
export class TarSplitReader {
  private readonly data: Buffer;
  private readonly diffPrefix: Buffer;
  private readonly hash = createHash('sha256');
  private pos = MAGIC.length;
  private total = 0;
  /** The RAW or INLINE bytes still to give out. */
  private bytes: Buffer | undefined;
  private file: { fd: number; left: number; shown: string } | undefined;
  /** The END record's length and digest, once reached. */
  private end: { size: number; digest: Buffer } | undefined;
  private verified = false;

  constructor(private readonly layerDir: string) {
    const path = join(layerDir, TAR_SPLIT_FILE);
    this.data = zstdDecompressSync(readFileSync(path));
    if (!this.data.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error(`${path} is not a ctr tar-split file`);
    this.diffPrefix = Buffer.from(join(layerDir, 'diff') + '/');
  }

  /** The files (absolute paths) whose content the tar holds, in order. */
  files(): Buffer[] {
    const out: Buffer[] = [];
    const cur = new Cursor(this.data);
    cur.pos = MAGIC.length;
    for (;;) {
      const kind = cur.byte();
      if (kind === RAW || kind === INLINE) cur.bytes(cur.varint());
      else if (kind === FILE) {
        out.push(Buffer.concat([this.diffPrefix, cur.bytes(cur.varint())]));
        cur.varint();
      } else return out;
    }
  }

  /** Fills buf from its start; returns the bytes put there, 0 once the tar is complete and verified. */
  read(buf: Buffer): number {
    if (this.verified) return 0;
    let n = 0;
    try {
      while (n < buf.length && !this.end) {
        if (this.bytes) {
          const k = this.bytes.copy(buf, n);
          n += k;
          this.bytes = k === this.bytes.length ? undefined : this.bytes.subarray(k);
        } else if (this.file) {
          n += this.readFile(this.file, buf, n);
        } else {
          this.next();
        }
      }
    } catch (err) {
      this.close();
      throw err;
    }
    this.hash.update(buf.subarray(0, n));
    this.total += n;
    if (this.end && !this.verified) {
      if (this.end.size !== this.total || !this.hash.digest().equals(this.end.digest)) {
        throw new Error(`the layer in ${this.layerDir} no longer matches its digest: its files changed since it was unpacked`);
      }
      this.verified = true;
    }
    return n;
  }

  /** Closes the file being read, if any (a reader abandoned midway). */
  close(): void {
    if (this.file) closeSync(this.file.fd);
    this.file = undefined;
  }

  private readFile(file: { fd: number; left: number; shown: string }, buf: Buffer, at: number): number {
    const n = readSync(file.fd, buf, at, Math.min(file.left, buf.length - at), null);
    if (n === 0) throw new Error(`the layer file ${file.shown} changed since it was unpacked (shorter)`);
    file.left -= n;
    if (file.left === 0) this.close();
    return n;
  }

  private next(): void {
    const cur = new Cursor(this.data);
    cur.pos = this.pos;
    const kind = cur.byte();
    if (kind === RAW || kind === INLINE) {
      const bytes = cur.bytes(cur.varint());
      if (bytes.length > 0) this.bytes = bytes;
    } else if (kind === FILE) {
      const pathBytes = cur.bytes(cur.varint());
      const size = cur.varint();
      const shown = pathBytes.toString('utf8');
      const fd = openSync(Buffer.concat([this.diffPrefix, pathBytes]), constants.O_RDONLY | constants.O_NOFOLLOW);
      this.file = { fd, left: size, shown };
      if (fstatSync(fd).size !== size) {
        this.close();
        throw new Error(`the layer file ${shown} changed since it was unpacked (size differs)`);
      }
      if (size === 0) this.close();
    } else if (kind === END) {
      const size = cur.varint();
      this.end = { size, digest: cur.bytes(32) };
    } else {
      throw new Error(`tar-split in ${this.layerDir} has an unknown record type ${kind}`);
    }
    this.pos = cur.pos;
  }
}
