import type { LayerPhase, PullProgress } from '../engine/pull.js';
import { shortId } from '../image/digest.js';
import type { Descriptor } from '../image/types.js';
import { humanSize } from './format/units.js';

interface LayerLine {
  digest: string;
  phase: LayerPhase;
  bytes: number;
  total: number;
  started: number;
}

const REDRAW_MS = 100;

/**
 * Pull progress for people and for logs: per-layer bars with bytes and speed on a terminal,
 * plain lines when piped, nothing when quiet. Progress goes to stderr; results to stdout.
 */
export function pullProgress(out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }, quiet: boolean): PullProgress & { finish(): void } {
  if (quiet) return { finish() {}, notice: (t) => out.write(`${t}\n`) };
  return out.isTTY ? new TerminalProgress(out) : new PlainProgress(out);
}

/** pullProgress on a stream opened only when a pull first reports (never, for an image that is here). */
export function lazyPullProgress(out: () => NodeJS.WritableStream & { isTTY?: boolean; columns?: number }): PullProgress & { finish(): void } {
  let real: (PullProgress & { finish(): void }) | undefined;
  const get = () => (real ??= pullProgress(out(), false));
  return {
    resolved: (...args) => get().resolved?.(...args),
    layer: (...args) => get().layer?.(...args),
    writingManifest: () => get().writingManifest?.(),
    notice: (text) => get().notice?.(text),
    finish: () => real?.finish(),
  };
}

class PlainProgress implements PullProgress {
  constructor(private readonly out: NodeJS.WritableStream) {}

  resolved(reference: string): void {
    this.out.write(`Trying to pull ${reference}...\n`);
  }

  layer(digest: string, phase: LayerPhase): void {
    if (phase === 'exists') this.out.write(`Copying blob ${shortId(digest)} skipped: already exists\n`);
    else if (phase === 'done') this.out.write(`Copying blob ${shortId(digest)} done\n`);
  }

  writingManifest(): void {
    this.out.write('Writing manifest to image destination\n');
  }

  notice(text: string): void {
    this.out.write(`${text}\n`);
  }

  finish(): void {}
}

/** One line per layer redrawn in place, bars moving at most every REDRAW_MS: what pull and push share. */
export abstract class LayerLines<Line extends { phase: string; bytes: number; total: number; started: number }> {
  protected readonly lines: Line[] = [];
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(protected readonly out: NodeJS.WritableStream & { columns?: number }) {}

  /** The text of a line on a terminal `width` columns wide. */
  protected abstract render(line: Line, width: number): string;

  /** Records a layer's progress; `moving` is the phase whose updates come often (bars). */
  protected update(line: Line, phase: Line['phase'], bytes: number, total: number, moving: Line['phase']): void {
    if (phase === moving && line.phase !== moving) line.started = Date.now();
    Object.assign(line, { phase, bytes, total });
    if (phase === moving) this.schedule();
    else this.draw();
  }

  notice(text: string): void {
    this.draw();
    this.out.write(`${text}\n`);
    this.drawn = 0;
  }

  finish(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.draw();
    }, REDRAW_MS);
  }

  protected draw(): void {
    const width = Math.max(40, Math.min(this.out.columns ?? 80, 120));
    let text = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (const l of this.lines) text += `\x1b[2K${this.render(l, width)}\n`;
    this.drawn = this.lines.length;
    this.out.write(text);
  }
}

class TerminalProgress extends LayerLines<LayerLine> implements PullProgress {
  resolved(reference: string, _manifest: string, layers: Descriptor[]): void {
    this.out.write(`Trying to pull ${reference}...\n`);
    // One line per layer in the image's order, whatever order they are fetched in.
    for (const l of layers) this.lines.push({ digest: l.digest, phase: 'waiting', bytes: 0, total: l.size, started: Date.now() });
  }

  layer(digest: string, phase: LayerPhase, bytes: number, total: number): void {
    let line = this.lines.find((l) => l.digest === digest);
    if (!line) this.lines.push((line = { digest, phase, bytes, total, started: Date.now() }));
    this.update(line, phase, bytes, total, 'downloading');
  }

  writingManifest(): void {
    this.draw();
    this.out.write('Writing manifest to image destination\n');
  }

  protected render(l: LayerLine, width: number): string {
    const id = shortId(l.digest);
    switch (l.phase) {
      case 'exists':
        return `${id}: Already exists`;
      case 'waiting':
        return `${id}: Waiting`;
      case 'done':
        return `${id}: Pull complete ${humanSize(l.total)}`;
      case 'downloading':
        return progressBar(id, 'Downloading', l.bytes, l.total, l.started, width);
    }
  }
}

/** `ID: Verb [=====>    ] 12.3MB/45.6MB 10MB/s`, fitted to the terminal's width (pull and push). */
export function progressBar(id: string, verb: string, bytes: number, total: number, started: number, width: number): string {
  const secs = Math.max((Date.now() - started) / 1000, 0.001);
  const speed = `${humanSize(bytes / secs)}/s`;
  const sizes = `${humanSize(bytes)}/${humanSize(total)}`;
  const barWidth = Math.max(10, width - id.length - sizes.length - speed.length - 20);
  const filled = total > 0 ? Math.min(barWidth, Math.floor((bytes / total) * barWidth)) : 0;
  const bar = '='.repeat(Math.max(0, filled - 1)) + (filled > 0 ? '>' : '') + ' '.repeat(barWidth - filled);
  return `${id}: ${verb} [${bar}] ${sizes} ${speed}`;
}
