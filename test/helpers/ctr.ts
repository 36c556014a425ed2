import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, inject } from 'vitest';

export interface Actor {
  /** 'root' or 'user': tests run once as each. */
  kind: 'root' | 'user';
  uid: number;
  gid: number;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** argv run as the actor: setpriv drops to the test user with its groups. */
export function asActor(actor: Actor, argv: string[]): string[] {
  if (actor.uid === process.getuid?.()) return argv;
  return ['setpriv', `--reuid=${actor.uid}`, `--regid=${actor.gid}`, '--init-groups', '--', ...argv];
}

/** The host id that container id `id` lands on for this actor (rootless: 1.. = its subordinate range). */
export function hostId(actor: Actor, id: number, kind: 'uid' | 'gid' = 'uid'): number {
  if (actor.kind === 'root') return id;
  if (id === 0) return kind === 'uid' ? actor.uid : actor.gid;
  const user = inject('testUser');
  if (!user) throw new Error('no test user with subordinate ids');
  const line = readFileSync(kind === 'uid' ? '/etc/subuid' : '/etc/subgid', 'utf8').split('\n').find((l) => l.startsWith(`${user.name}:`));
  if (!line) throw new Error(`no subordinate ${kind} range for ${user.name}`);
  return Number(line.split(':')[1]) + id - 1;
}

/** Who the tests can act as here: root (when the suite runs as root) and the test user. */
export function actors(): Actor[] {
  const out: Actor[] = [];
  const user = inject('testUser');
  if (process.getuid?.() === 0) out.push({ kind: 'root', uid: 0, gid: 0 });
  if (user) out.push({ kind: 'user', uid: user.uid, gid: user.gid });
  if (out.length === 0) out.push({ kind: 'user', uid: process.getuid!(), gid: process.getgid!() });
  return out;
}

/** Processes (other than this one) whose command line names a path under `dir`. */
function processesUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`${dir}/`)) pids.push(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/**
 * A private ctr installation for one test: its own store, run directory and home, owned by
 * the actor. `ctr(...)` runs the real built executable as that actor.
 */
export class CtrEnv {
  readonly dir: string;
  readonly home: string;
  readonly root: string;
  readonly runroot: string;

  constructor(readonly actor: Actor) {
    this.dir = mkdtempSync(join(tmpdir(), `ctr-test-${actor.kind}-`));
    this.home = join(this.dir, 'home');
    this.root = join(this.dir, 'root');
    this.runroot = join(this.dir, 'run');
    if (actor.uid !== process.getuid?.()) chownSync(this.dir, actor.uid, actor.gid);
  }

  /** A new environment with `refs` pulled into its store. */
  static async withImages(actor: Actor, ...refs: string[]): Promise<CtrEnv> {
    const env = new CtrEnv(actor);
    try {
      for (const ref of refs) {
        const pulled = await env.ctr(['pull', '-q', ref]);
        expect(pulled.code, pulled.stderr).toBe(0);
      }
    } catch (err) {
      await env.cleanup();
      throw err;
    }
    return env;
  }

  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: this.home,
      LANG: 'C.UTF-8',
      CTR_ROOT: this.root,
      CTR_RUNROOT: this.runroot,
      ...extra,
    };
  }

  /** Runs a command as the actor (setpriv drops to the test user with its groups). */
  exec(argv: string[], opts: { input?: string | Buffer; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
    const full = asActor(this.actor, argv);
    return new Promise((resolve, reject) => {
      const child = spawn(full[0]!, full.slice(1), { env: this.env(opts.env), cwd: this.dir, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 110_000);
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code: code ?? 128 + (signal ? 9 : 0), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
      });
      // A process that exits before reading its input must not crash the test run.
      child.stdin.on('error', () => {});
      child.stdin.end(opts.input ?? '');
    });
  }

  /** Starts ctr without waiting, for tests that signal or kill it. */
  spawnCtr(args: string[], env: Record<string, string> = {}): ChildProcess {
    const full = asActor(this.actor, [...inject('ctrCommand'), ...args]);
    return spawn(full[0]!, full.slice(1), { env: this.env(env), cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  ctr(args: string[], opts: { input?: string | Buffer; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
    return this.exec([...inject('ctrCommand'), ...args], opts);
  }

  /** IDs of every container in the store (`ps -aq`). */
  async containers(): Promise<string[]> {
    return (await this.ctr(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
  }

  /** Removes the containers a test left behind (`rm -f`, plus `flags`), so that the next one starts clean. */
  async removeContainers(flags: string[] = []): Promise<void> {
    const left = await this.containers();
    if (left.length > 0) await this.ctr(['rm', '-f', ...flags, ...left]);
  }

  /** Polls `ctr logs NAME` until the container printed `text` on stdout; returns what it printed. */
  async waitForLog(name: string, text: string, ms = 30_000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const logs = (await this.ctr(['logs', name])).stdout;
      if (logs.includes(text)) return logs;
      if (Date.now() > deadline) throw new Error(`${name} never printed ${text}: ${logs}`);
      await sleep(50);
    }
  }

  /**
   * Removes everything, including files owned by subordinate ids (root can just delete). A detached
   * container's monitor and exit command (`ctr __cleanup`) may still write into the store after the
   * test's last command returned: wait (bounded) until no process names this directory, and retry
   * the removal of a directory that something filled again meanwhile (ENOTEMPTY).
   */
  async cleanup(): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (processesUnder(this.dir).length > 0 && Date.now() < deadline) await sleep(50);
    await chmod(this.dir, 0o700).catch(() => {});
    await rm(this.dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  }
}
