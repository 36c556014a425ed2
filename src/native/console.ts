import { native } from './index.js';

/** A pending consoleReceive. */
export interface ConsoleReceive {
  /** Stops waiting (the callback then gets an ECANCELED error); a no-op once the callback ran. */
  cancel(): void;
}

/** The terminal half of our N-API addon (src/native/console.c). Errors name the operation and the object. */
export interface ConsoleNative {
  /** A unix stream socket listening at path (close-on-exec); returns its fd. */
  consoleListen(path: string): number;
  /**
   * Accepts one connection on listenFd and receives one fd by SCM_RIGHTS, on a worker thread.
   * Takes over listenFd (closes it when done). The fd passed to the callback is a terminal,
   * close-on-exec; path only names the socket in error messages.
   */
  consoleReceive(listenFd: number, path: string, callback: (err: NodeJS.ErrnoException | null, fd?: number) => void): ConsoleReceive;
  /** ioctl TIOCSWINSZ. */
  setWindowSize(fd: number, rows: number, cols: number): void;
  /** ioctl TIOCGWINSZ. */
  getWindowSize(fd: number): { rows: number; cols: number };
  /** Puts the terminal in raw mode (cfmakeraw); returns the previous mode for setTermios. */
  makeRaw(fd: number): Buffer;
  setTermios(fd: number, state: Buffer): void;
  /** A close-on-exec duplicate of fd; sets O_NONBLOCK on the open file both share. */
  dupNonBlock(fd: number): number;
  /** prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants, such as a container's init after `runc create`, become our children. */
  setChildSubreaper(): void;
  /** waitpid on a worker thread, for a child Node did not spawn (one inherited as subreaper). */
  waitPid(pid: number, callback: (err: NodeJS.ErrnoException | null, status?: { code: number | null; signal: number | null }) => void): void;
}

export function consoleNative(): ConsoleNative {
  return native() as unknown as ConsoleNative;
}
