import type { PushPhase, PushProgress } from '../engine/push.js';
import { shortId } from '../image/digest.js';
import { LayerLines, progressBar } from './progress.js';

interface LayerLine {
  id: string;
  phase: PushPhase;
  bytes: number;
  total: number;
  started: number;
  from?: string;
}

/**
 * Push progress as pull draws it: a line per layer with bars on a terminal, plain lines when
 * piped, nothing when quiet. Progress goes to stderr; the digest to stdout.
 */
export function pushProgress(out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }, quiet: boolean): PushProgress & { finish(): void } {
  if (quiet) return { finish() {}, notice: (t) => out.write(`${t}\n`) };
  return out.isTTY ? new TerminalProgress(out) : new PlainProgress(out);
}

class PlainProgress implements PushProgress {
  constructor(private readonly out: NodeJS.WritableStream) {}

  started(destination: string): void {
    this.out.write(`Pushing ${destination}...\n`);
  }

  layer(id: string, phase: PushPhase, _bytes: number, _total: number, from?: string): void {
    if (phase === 'exists') this.out.write(`Copying blob ${shortId(id)} skipped: already exists\n`);
    else if (phase === 'mounted') this.out.write(`Copying blob ${shortId(id)} mounted from ${from ?? 'another repository'}\n`);
    else if (phase === 'done') this.out.write(`Copying blob ${shortId(id)} done\n`);
  }

  config(digest: string, phase: 'exists' | 'done'): void {
    this.out.write(`Copying config ${shortId(digest)} ${phase === 'exists' ? 'skipped: already exists' : 'done'}\n`);
  }

  writingManifest(): void {
    this.out.write('Writing manifest to image destination\n');
  }

  notice(text: string): void {
    this.out.write(`${text}\n`);
  }

  finish(): void {}
}

class TerminalProgress extends LayerLines<LayerLine> implements PushProgress {
  started(destination: string, layers: { id: string; size: number }[]): void {
    this.out.write(`The push refers to repository [${destination.replace(/:[^/:]+$/, '')}]\n`);
    for (const l of layers) this.lines.push({ id: l.id, phase: 'waiting', bytes: 0, total: l.size, started: Date.now() });
  }

  layer(id: string, phase: PushPhase, bytes: number, total: number, from?: string): void {
    let line = this.lines.find((l) => l.id === id);
    if (!line) this.lines.push((line = { id, phase, bytes, total, started: Date.now() }));
    line.from = from;
    this.update(line, phase, bytes, total, 'uploading');
  }

  writingManifest(): void {
    this.draw();
  }

  protected render(l: LayerLine, width: number): string {
    const id = shortId(l.id);
    switch (l.phase) {
      case 'exists':
        return `${id}: Layer already exists`;
      case 'mounted':
        return `${id}: Mounted from ${l.from ?? 'another repository'}`;
      case 'waiting':
        return `${id}: Waiting`;
      case 'done':
        return `${id}: Pushed`;
      case 'uploading':
        return progressBar(id, 'Pushing', l.bytes, l.total, l.started, width);
    }
  }
}
