import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';

/** Every signal Node can catch that docker forwards to a container (not SIGCHLD, SIGPIPE, SIGURG, SIGWINCH, SIGSTOP, SIGKILL). */
export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = [
  'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGALRM', 'SIGCONT', 'SIGTSTP',
  'SIGTTIN', 'SIGTTOU', 'SIGVTALRM', 'SIGXCPU', 'SIGXFSZ', 'SIGPWR', 'SIGSYS', 'SIGTRAP', 'SIGABRT',
];

/** Hands each of these signals ctr receives to `handler`, until the returned function is called. */
export function forwardSignals(handler: (sig: NodeJS.Signals) => void, signals: readonly NodeJS.Signals[] = FORWARDED_SIGNALS): () => void {
  for (const sig of signals) process.on(sig, handler);
  return () => {
    for (const sig of signals) process.off(sig, handler);
  };
}

/**
 * Wires a runtime process that stands for the container in the foreground: the signals ctr gets
 * go to it while it runs, and `stdin` (when given) flows into it. Returns the undo.
 */
export function connectChild(child: Pick<ChildProcess, 'exitCode' | 'stdin'> & { kill(sig: NodeJS.Signals): unknown }, stdin: Readable | undefined, signals: readonly NodeJS.Signals[] = FORWARDED_SIGNALS): () => void {
  const stop = forwardSignals((sig) => {
    if (child.exitCode === null) child.kill(sig);
  }, signals);
  if (stdin && child.stdin) {
    child.stdin.on('error', () => {});
    stdin.pipe(child.stdin);
  }
  return () => {
    stop();
    if (stdin && child.stdin) stdin.unpipe(child.stdin);
  };
}
