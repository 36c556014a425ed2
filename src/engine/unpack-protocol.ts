import { Transform, type TransformCallback } from 'node:stream';

/**
 * How a parent talks to a long-lived `ctr __unpack` worker: one layer after another on its
 * stdin, as frames of [type byte][uint32 length][payload]. J starts a job (JSON UnpackJob),
 * D carries uncompressed tar bytes, E ends the job (a job with `upper` has neither: the worker
 * reads that directory itself). The worker answers each job with one JSON
 * line (UnpackReply) on stdout, and exits at the end of its stdin or after a failed job.
 */
export const FrameType = { Job: 0x4a, Data: 0x44, End: 0x45 } as const;

export interface UnpackJob {
  dest: string;
  expectedDiffId?: string;
  /** The layer is the changes in this overlay upper directory (a commit); lowers: the image's layers, top first. */
  upper?: { dir: string; lowers: string[] };
}

export type UnpackReply = { ok: true; diffId: string; size: number; notices: string[] } | { ok: false; error: string };

const HEADER = 5;

export function frame(type: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.allocUnsafe(HEADER);
  head[0] = type;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** Wraps each chunk of a stream in a D frame (the header goes out as its own small write). */
export class DataFramer extends Transform {
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const head = Buffer.allocUnsafe(HEADER);
    head[0] = FrameType.Data;
    head.writeUInt32BE(chunk.length, 1);
    this.push(head);
    cb(null, chunk);
  }
}

/** Splits a byte stream back into frames; payloads may arrive in pieces (onData gets each piece). */
export class FrameReader {
  private header = Buffer.alloc(HEADER);
  private headerFill = 0;
  private type = 0;
  private left = 0;
  private control: Buffer[] = [];

  constructor(
    private readonly handlers: {
      job(job: UnpackJob): void;
      data(piece: Buffer): void;
      end(): void;
    },
  ) {}

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.left === 0 && this.headerFill < HEADER) {
        const n = Math.min(HEADER - this.headerFill, chunk.length - off);
        chunk.copy(this.header, this.headerFill, off, off + n);
        this.headerFill += n;
        off += n;
        if (this.headerFill < HEADER) return;
        this.type = this.header[0]!;
        this.left = this.header.readUInt32BE(1);
        if (this.left === 0) this.complete();
        continue;
      }
      const n = Math.min(this.left, chunk.length - off);
      const piece = chunk.subarray(off, off + n);
      off += n;
      this.left -= n;
      if (this.type === FrameType.Data) this.handlers.data(piece);
      else this.control.push(piece);
      if (this.left === 0) this.complete();
    }
  }

  private complete(): void {
    const type = this.type;
    const payload = Buffer.concat(this.control);
    this.control = [];
    this.headerFill = 0;
    if (type === FrameType.Job) this.handlers.job(JSON.parse(payload.toString('utf8')) as UnpackJob);
    else if (type === FrameType.End) this.handlers.end();
    else if (type !== FrameType.Data) throw new Error(`unknown frame type ${type}`);
  }
}
