import { Option } from 'clipanion';
import { writeSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import type { Ownership } from '../../archive/apply.js';
import { unpackLayer, unpackUpperLayer, type UnpackLayerOptions, type UnpackLayerResult } from '../../archive/unpack.js';
import { FrameReader, type UnpackReply } from '../../engine/unpack-protocol.js';
import { errorMessage } from '../../errors.js';
import { native } from '../../native/index.js';
import { awaitUserNamespaceGo } from '../../runtime/userns.js';
import { CtrCommand } from '../command.js';

/**
 * Worker: unpacks the layers framed on stdin (engine/unpack-protocol.ts) one after another,
 * answering each with one JSON line. Started by engine/unpack.ts, inside the user namespace
 * when rootless. It exits at the end of stdin, or after a job fails.
 */
export class UnpackWorkerCommand extends CtrCommand {
  static override paths = [['__unpack']];

  ownership = Option.String('--ownership', 'root');
  maxUid = Option.String('--max-uid', '0');
  maxGid = Option.String('--max-gid', '0');
  opaqueXattr = Option.String('--opaque-xattr', 'trusted.overlay.opaque');
  user = Option.String('--user');

  async execute(): Promise<number> {
    const answer = (reply: UnpackReply) => writeSync(1, `${JSON.stringify(reply)}\n`);
    try {
      awaitUserNamespaceGo();
    } catch (err) {
      answer({ ok: false, error: errorMessage(err) });
      return 1;
    }
    // A 1 MiB pipe instead of 64 KiB: the parent's writes and these reads wake each other less.
    try {
      native().setPipeSize(0, 1 << 20);
    } catch {
      // not a pipe, or over the system's limit: the default size works too
    }
    const stdin = process.stdin;
    let current: PassThrough | undefined;
    let running: Promise<void> = Promise.resolve();
    let failed = false;
    const reader = new FrameReader({
      job: (job) => {
        const opts: UnpackLayerOptions = {
          dest: job.dest,
          expectedDiffId: job.expectedDiffId,
          ownership: this.ownership as Ownership,
          maxUid: Number(this.maxUid),
          maxGid: Number(this.maxGid),
          opaqueXattr: this.opaqueXattr,
          user: this.user,
        };
        let work: Promise<UnpackLayerResult>;
        if (job.upper) {
          const upper = job.upper;
          current = undefined;
          work = Promise.resolve().then(() => unpackUpperLayer({ upper: upper.dir, lowers: upper.lowers }, opts));
        } else {
          const input = new PassThrough({ highWaterMark: 4 << 20 });
          input.on('drain', () => stdin.resume());
          current = input;
          work = unpackLayer(input, opts);
        }
        running = work.then(
          (result) => {
            answer({ ok: true, ...result });
          },
          (err: unknown) => {
            failed = true;
            answer({ ok: false, error: errorMessage(err) });
            stdin.destroy();
          },
        );
      },
      data: (piece) => {
        if (current && !current.write(piece)) stdin.pause();
      },
      end: () => current?.end(),
    });
    await new Promise<void>((resolve) => {
      stdin.on('data', (chunk: Buffer) => {
        try {
          reader.push(chunk);
        } catch (err) {
          failed = true;
          answer({ ok: false, error: `the unpack worker got a malformed request: ${errorMessage(err)}` });
          stdin.destroy();
        }
      });
      stdin.on('end', resolve);
      stdin.on('close', resolve);
      stdin.on('error', resolve);
    });
    current?.end();
    await running;
    return failed ? 1 : 0;
  }
}
