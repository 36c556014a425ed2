import type { Readable, Writable } from 'node:stream';
import type { SeqpacketReader } from '../native/index.js';

/**
 * Copies a child's output to ours, pausing it while ours is full; a reader that went away (| head)
 * ends the copy. holdBack sees each chunk first: true keeps the chunk from `to`.
 */
export function copyOutput(from: Readable, to: Writable, holdBack?: (chunk: Buffer) => boolean): Promise<void> {
  return new Promise<void>((resolve) => {
    let gone = false;
    to.on('error', () => {
      gone = true;
      from.destroy();
      resolve();
    });
    from.on('data', (chunk: Buffer) => {
      if (gone || holdBack?.(chunk)) return;
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    });
    from.on('end', resolve);
    from.on('error', () => resolve());
  });
}

/**
 * As copyOutput, for output the addon reads (StartedProcess.readOutput): `to` is opened with the
 * first chunk only, so that a command that prints nothing loads no stream code at all.
 */
export function pumpOutput(
  read: (onChunk: (err: Error | null, chunk: Buffer | null) => void) => SeqpacketReader,
  to: () => Writable,
  holdBack?: (chunk: Buffer) => boolean,
): Promise<void> {
  return new Promise<void>((resolve) => {
    let out: Writable | undefined;
    let gone = false;
    const reader = read((err, chunk) => {
      // The end, a failure, or the cancel below: the pipe is closed now, and a writer gets EPIPE.
      if (err || chunk === null) return resolve();
      if (gone || holdBack?.(chunk)) return;
      if (!out) {
        out = to();
        out.on('error', () => {
          gone = true;
          reader.cancel();
        });
      }
      if (!out.write(chunk)) {
        reader.pause();
        out.once('drain', () => reader.resume());
      }
    });
  });
}
