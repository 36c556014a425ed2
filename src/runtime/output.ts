import type { Readable, Writable } from 'node:stream';

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
