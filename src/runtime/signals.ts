/** Every signal Node can catch that docker forwards to a container (not SIGCHLD, SIGPIPE, SIGURG, SIGWINCH, SIGSTOP, SIGKILL). */
export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = [
  'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGALRM', 'SIGCONT', 'SIGTSTP',
  'SIGTTIN', 'SIGTTOU', 'SIGVTALRM', 'SIGXCPU', 'SIGXFSZ', 'SIGPWR', 'SIGSYS', 'SIGTRAP', 'SIGABRT',
];
