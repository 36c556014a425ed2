/**
 * A streaming tar reader (ustar, GNU and PAX) that hands every byte that is not file content
 * to its sink unchanged, so that a tar-split can reproduce the archive byte for byte.
 * Names are "byte strings": each byte of the raw name is one latin1 character, so names that
 * are not valid UTF-8 survive; convert with Buffer.from(name, 'latin1') for the file system.
 */

export const BLOCK = 512;

export const TarType = {
  File: '0',
  OldFile: '\0',
  Contiguous: '7',
  HardLink: '1',
  Symlink: '2',
  CharDevice: '3',
  BlockDevice: '4',
  Directory: '5',
  Fifo: '6',
  PaxHeader: 'x',
  PaxGlobal: 'g',
  GnuLongName: 'L',
  GnuLongLink: 'K',
  GnuSparse: 'S',
  GnuMultiVolume: 'M',
  GnuVolume: 'V',
  GnuDumpDir: 'D',
} as const;

export interface TarHeader {
  /** The member's path as a byte string, after PAX and GNU long names are applied. */
  name: string;
  linkname: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of content that follow the header (0 for header-only types, as Go's archive/tar reads them). */
  size: number;
  /** Seconds since the epoch, fractional when a PAX record gave more precision. */
  mtime: number;
  atime?: number;
  devmajor: number;
  devminor: number;
  /** Extended attributes from PAX SCHILY.xattr.* and LIBARCHIVE.xattr.* records. */
  xattrs: Map<string, Buffer>;
}

export interface TarSink {
  /** Headers, extension records, padding, end-of-archive blocks and trailing bytes, in order. */
  raw(bytes: Buffer): void;
  /** A member starts; header.size bytes of content follow through data(). */
  entry(header: TarHeader): void;
  data(bytes: Buffer): void;
  entryEnd(): void;
}

export class TarFormatError extends Error {}

const HEADER_ONLY = new Set<string>([
  TarType.HardLink,
  TarType.Symlink,
  TarType.CharDevice,
  TarType.BlockDevice,
  TarType.Directory,
  TarType.Fifo,
]);

export function isRegularType(type: string): boolean {
  return type === TarType.File || type === TarType.OldFile || type === TarType.Contiguous;
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** Octal ASCII (space or NUL terminated) or GNU base-256 (high bit set; 0xff = negative). */
export function parseNumeric(block: Buffer, offset: number, length: number, field: string): number {
  const first = block[offset]!;
  if (first & 0x80) {
    const negative = first === 0xff;
    let value = negative ? 0 : first & 0x7f;
    for (let i = negative ? 0 : 1; i < length; i++) {
      const byte = block[offset + i]!;
      value = value * 256 + (negative ? byte ^ 0xff : byte);
      if (value > Number.MAX_SAFE_INTEGER) throw new TarFormatError(`the ${field} field is too large`);
    }
    return negative ? -(value + 1) : value;
  }
  let i = offset;
  const end = offset + length;
  while (i < end && (block[i] === 0x20 || block[i] === 0)) i++;
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = block[i]!;
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) throw new TarFormatError(`the ${field} field is not an octal number`);
    value = value * 8 + (c - 0x30);
    digits++;
  }
  for (; i < end; i++) {
    if (block[i] !== 0x20 && block[i] !== 0) throw new TarFormatError(`the ${field} field is not an octal number`);
  }
  return digits === 0 ? 0 : value;
}

function cString(block: Buffer, offset: number, length: number): string {
  let end = offset;
  const limit = offset + length;
  while (end < limit && block[end] !== 0) end++;
  return block.toString('latin1', offset, end);
}

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

function checksumMatches(block: Buffer): boolean {
  const stored = parseNumeric(block, 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

interface PaxRecords {
  [key: string]: Buffer;
}

/** Parses "LEN key=value\n" records; values stay bytes (xattr values are binary). */
export function parsePax(data: Buffer): PaxRecords {
  const out: PaxRecords = {};
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break;
    const space = data.indexOf(0x20, pos);
    if (space < 0) throw new TarFormatError('a PAX record has no length');
    const len = Number(data.toString('latin1', pos, space));
    if (!Number.isInteger(len) || len <= space - pos + 1 || pos + len > data.length) throw new TarFormatError('a PAX record has an invalid length');
    const record = data.subarray(space + 1, pos + len);
    if (record[record.length - 1] !== 0x0a) throw new TarFormatError('a PAX record does not end with a newline');
    const eq = record.indexOf(0x3d);
    if (eq <= 0) throw new TarFormatError('a PAX record has no key');
    out[record.toString('utf8', 0, eq)] = record.subarray(eq + 1, record.length - 1);
    pos += len;
  }
  return out;
}

function paxNumber(value: Buffer, key: string): number {
  const s = value.toString('latin1');
  if (!/^-?\d+(\.\d+)?$/.test(s)) throw new TarFormatError(`the PAX ${key} record is not a number`);
  return Number(s);
}

type State = 'header' | 'ext' | 'data' | 'pad' | 'zero' | 'trailer';

/**
 * Push parser: write() chunks of the uncompressed tar, end() at EOF. Throws TarFormatError
 * on malformed input; the sink's own exceptions propagate unchanged.
 */
export class TarParser {
  private state: State = 'header';
  private block = Buffer.alloc(BLOCK);
  private blockFill = 0;
  private remaining = 0;
  private pad = 0;
  private extType = '';
  private extSize = 0;
  private extChunks: Buffer[] = [];
  private extLength = 0;
  private pax: PaxRecords = {};
  private globalPax: PaxRecords = {};
  private longName: string | undefined;
  private longLink: string | undefined;
  private current = '';
  /** Offset of the next byte in the uncompressed stream, for error messages. */
  offset = 0;

  constructor(private readonly sink: TarSink) {}

  write(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      switch (this.state) {
        case 'header':
        case 'zero': {
          if (this.blockFill === 0 && chunk.length - pos >= BLOCK) {
            this.onBlock(chunk.subarray(pos, pos + BLOCK));
            pos += BLOCK;
          } else {
            const n = Math.min(BLOCK - this.blockFill, chunk.length - pos);
            chunk.copy(this.block, this.blockFill, pos, pos + n);
            this.blockFill += n;
            pos += n;
            if (this.blockFill === BLOCK) {
              this.blockFill = 0;
              this.onBlock(Buffer.from(this.block));
            }
          }
          break;
        }
        case 'ext': {
          const n = Math.min(this.remaining, chunk.length - pos);
          const part = chunk.subarray(pos, pos + n);
          this.sink.raw(part);
          const want = this.extSize - this.extLength;
          if (want > 0) {
            const keep = part.subarray(0, Math.min(want, n));
            this.extChunks.push(Buffer.from(keep));
            this.extLength += keep.length;
          }
          this.remaining -= n;
          pos += n;
          if (this.remaining === 0) this.finishExtension();
          break;
        }
        case 'data': {
          const n = Math.min(this.remaining, chunk.length - pos);
          this.sink.data(chunk.subarray(pos, pos + n));
          this.remaining -= n;
          pos += n;
          if (this.remaining === 0) this.afterData();
          break;
        }
        case 'pad': {
          const n = Math.min(this.pad, chunk.length - pos);
          this.sink.raw(chunk.subarray(pos, pos + n));
          this.pad -= n;
          pos += n;
          if (this.pad === 0) this.finishEntry();
          break;
        }
        case 'trailer': {
          this.sink.raw(chunk.subarray(pos));
          pos = chunk.length;
          break;
        }
      }
    }
    this.offset += chunk.length;
  }

  end(): void {
    if (this.state === 'trailer') return;
    if ((this.state === 'header' || this.state === 'zero') && this.blockFill === 0 && this.longName === undefined && Object.keys(this.pax).length === 0) {
      return;
    }
    if (this.blockFill > 0) this.sink.raw(this.block.subarray(0, this.blockFill));
    const where = this.current ? ` in "${displayName(this.current)}"` : '';
    throw new TarFormatError(`the layer tar is truncated${where} (the stream ended after ${this.offset} bytes)`);
  }

  private onBlock(block: Buffer): void {
    if (isZeroBlock(block)) {
      this.sink.raw(block);
      this.state = this.state === 'zero' ? 'trailer' : 'zero';
      return;
    }
    if (this.state === 'zero') throw new TarFormatError(`a zero block is followed by more data at offset ${this.offset}`);
    if (!checksumMatches(block)) throw new TarFormatError(`the tar header at offset ${this.offset} has a bad checksum`);
    this.sink.raw(block);
    const type = String.fromCharCode(block[156]!);
    const size = parseNumeric(block, 124, 12, 'size');
    if (size < 0) throw new TarFormatError(`the tar header at offset ${this.offset} has a negative size`);
    if (type === TarType.PaxHeader || type === TarType.PaxGlobal || type === TarType.GnuLongName || type === TarType.GnuLongLink) {
      if (size > 64 * 1024 * 1024) throw new TarFormatError(`an extended tar header at offset ${this.offset} is unreasonably large`);
      this.extType = type;
      this.extSize = size;
      this.extChunks = [];
      this.extLength = 0;
      this.remaining = size + padding(size);
      this.state = 'ext';
      if (this.remaining === 0) this.finishExtension();
      return;
    }
    const header = this.buildHeader(block, type, size);
    this.current = header.name;
    this.sink.entry(header);
    this.remaining = header.size;
    this.pad = padding(header.size);
    if (this.remaining > 0) this.state = 'data';
    else this.afterData();
  }

  private finishExtension(): void {
    const data = Buffer.concat(this.extChunks, this.extLength);
    this.extChunks = [];
    switch (this.extType) {
      case TarType.PaxHeader:
        Object.assign(this.pax, parsePax(data));
        break;
      case TarType.PaxGlobal:
        Object.assign(this.globalPax, parsePax(data));
        break;
      case TarType.GnuLongName:
        this.longName = cString(data, 0, data.length);
        break;
      case TarType.GnuLongLink:
        this.longLink = cString(data, 0, data.length);
        break;
    }
    this.state = 'header';
  }

  private afterData(): void {
    if (this.pad > 0) this.state = 'pad';
    else this.finishEntry();
  }

  private finishEntry(): void {
    this.state = 'header';
    this.current = '';
    this.sink.entryEnd();
  }

  private buildHeader(block: Buffer, rawType: string, size: number): TarHeader {
    const magic = block.toString('latin1', 257, 263);
    let name = cString(block, 0, 100);
    if (magic === 'ustar\0') {
      const prefix = cString(block, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    let type = rawType;
    const header: TarHeader = {
      name,
      linkname: cString(block, 157, 100),
      type,
      mode: parseNumeric(block, 100, 8, 'mode') & 0o7777,
      uid: parseNumeric(block, 108, 8, 'uid'),
      gid: parseNumeric(block, 116, 8, 'gid'),
      size,
      mtime: parseNumeric(block, 136, 12, 'mtime'),
      devmajor: magic.startsWith('ustar') ? parseNumeric(block, 329, 8, 'devmajor') : 0,
      devminor: magic.startsWith('ustar') ? parseNumeric(block, 337, 8, 'devminor') : 0,
      xattrs: new Map(),
    };
    if (this.longName !== undefined) header.name = this.longName;
    if (this.longLink !== undefined) header.linkname = this.longLink;
    this.applyPax(header, { ...this.globalPax, ...this.pax });
    this.pax = {};
    this.longName = undefined;
    this.longLink = undefined;
    if (type === TarType.GnuSparse || header.xattrs.has('\0sparse')) {
      throw new TarFormatError(`"${displayName(header.name)}" is a sparse file, which ctr cannot unpack yet`);
    }
    if (type === TarType.GnuMultiVolume) throw new TarFormatError(`"${displayName(header.name)}" continues a multi-volume archive`);
    if ((type === TarType.OldFile || type === TarType.File) && header.name.endsWith('/')) type = TarType.Directory;
    header.type = type;
    if (HEADER_ONLY.has(type)) header.size = 0;
    return header;
  }

  private applyPax(header: TarHeader, records: PaxRecords): void {
    for (const [key, value] of Object.entries(records)) {
      if (value.length === 0) continue;
      switch (key) {
        case 'path':
          header.name = value.toString('latin1');
          break;
        case 'linkpath':
          header.linkname = value.toString('latin1');
          break;
        case 'size':
          header.size = paxNumber(value, key);
          break;
        case 'uid':
          header.uid = paxNumber(value, key);
          break;
        case 'gid':
          header.gid = paxNumber(value, key);
          break;
        case 'mtime':
          header.mtime = paxNumber(value, key);
          break;
        case 'atime':
          header.atime = paxNumber(value, key);
          break;
        default:
          if (key.startsWith('SCHILY.xattr.')) {
            header.xattrs.set(key.slice('SCHILY.xattr.'.length), value);
          } else if (key.startsWith('LIBARCHIVE.xattr.')) {
            header.xattrs.set(decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length)), Buffer.from(value.toString('latin1'), 'base64'));
          } else if (key.startsWith('GNU.sparse.')) {
            header.xattrs.set('\0sparse', value);
          }
      }
    }
  }
}

/** A byte-string name as a person reads it (UTF-8 when valid). */
export function displayName(name: string): string {
  return Buffer.from(name, 'latin1').toString('utf8');
}

/** Text (a path a user typed, UTF-8 on disk) as a byte string: the inverse of displayName. */
export function byteString(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** A byte-string path as the file system takes it: its exact bytes. */
export function fsPath(path: string): Buffer {
  return Buffer.from(path, 'latin1');
}
