import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunResult } from './ctr.js';

export interface ExitResult extends RunResult {
  /** The signal that ended the child; its code is then -1, so that no expected exit code matches. */
  signal: NodeJS.Signals | null;
}

/** Resolves with the child's exit code and what it printed. */
export function exitOf(child: ChildProcess): Promise<ExitResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code: code ?? -1, signal, stdout, stderr })));
}

/** Waits until the child printed `text` on stdout (e.g. the container is up and its handlers are set). */
export function printed(child: ChildProcess, text: string, ms = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`ctr did not print ${text}: ${seen}`)), ms);
    child.stdout!.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

/** Polls `fn` until it returns true; fails naming `what` after `ms`. */
export async function waitFor(what: string, fn: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(50);
  }
}
