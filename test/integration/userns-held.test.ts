import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actors, CtrEnv } from '../helpers/ctr.js';

/** The processes whose user namespace is `ns` (a /proc/PID/ns/user link text). */
function processesIn(ns: string): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/ns/user`) === ns;
      } catch {
        return false;
      }
    })
    .map(Number);
}

// The rootless runtime of a foreground `run` starts in a user namespace that the addon makes while
// ctr prepares the container (holdUserNamespace), joined by the runtime's process as the addon
// starts it (startProcess).
describe.each(actors().filter((a) => a.kind === 'user'))('a held user namespace as $kind', (actor) => {
  let env: CtrEnv;
  beforeAll(() => {
    env = new CtrEnv(actor);
  });
  afterAll(async () => {
    await env.cleanup();
  });

  it('has the rootless id maps, gives its root every capability and setgroups, and ends with its last process', async () => {
    const script = 'cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; grep CapEff /proc/self/status; id -u; readlink /proc/self/ns/user';
    const r = await env.ctr(['__userns', '--held', 'sh', '-c', script]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    const start = (file: string) => Number(readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith('ctrtest:'))!.split(':')[1]);
    const map = (outer: number, sub: number) => [`0 ${outer} 1`, `1 ${sub} 65536`];
    expect(lines.slice(0, 4).map((l) => l.trim().split(/\s+/).join(' '))).toEqual([...map(actor.uid, start('/etc/subuid')), ...map(actor.gid, start('/etc/subgid'))]);
    expect(lines[4]).toBe('allow');
    const lastCap = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
    expect(BigInt(`0x${lines[5]!.split(/\s+/)[1]}`)).toBe((1n << BigInt(lastCap + 1)) - 1n);
    expect(lines[6]).toBe('0');
    const ns = lines[7]!;
    expect(ns).not.toBe(readlinkSync('/proc/self/ns/user'));
    // The process that held it open is gone too, soon after the command.
    for (let i = 0; i < 100 && processesIn(ns).length > 0; i++) await sleep(20);
    expect(processesIn(ns)).toEqual([]);
  });
});
