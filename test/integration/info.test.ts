import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actors, CtrEnv } from '../helpers/ctr.js';

describe.each(actors())('info as $kind', (actor) => {
  let env: CtrEnv;
  beforeAll(() => {
    env = new CtrEnv(actor);
  });
  afterAll(async () => {
    await env.cleanup();
  });

  it('reports the store, the id mapping, the runtime and the storage mode', async () => {
    const r = await env.ctr(['info', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.store.root).toBe(env.root);
    expect(info.store.runroot).toBe(env.runroot);
    expect(info.rootless).toBe(actor.kind === 'user');
    // This host has hybrid cgroups, where crun refuses to run: runc is the one that works.
    expect(info.runtime.name).toBe('runc');
    expect(info.store.storageMode).toBe('native overlay');
    if (actor.kind === 'user') {
      const start = Number(readFileSync('/etc/subuid', 'utf8').split('\n').find((l) => l.startsWith('ctrtest:'))!.split(':')[1]);
      expect(info.idMapping.mode).toBe('rootless');
      expect(info.idMapping.uidMap).toEqual([
        { containerID: 0, hostID: actor.uid, size: 1 },
        { containerID: 1, hostID: start, size: 65536 },
      ]);
    } else {
      expect(info.idMapping.mode).toBe('root');
    }
    const human = await env.ctr(['info']);
    expect(human.stdout).toMatch(/^store:\n {2}root: /m);
    const tmpl = await env.ctr(['info', '--format', '{{.store.root}}']);
    expect(tmpl.stdout).toBe(`${env.root}\n`);
  });

  it('uses the XDG directories by default, with a private /tmp fallback for the runtime directory', async () => {
    if (actor.kind === 'root') {
      const r = await env.ctr(['info', '--format', '{{.store.root}} {{.store.runroot}}'], { env: { CTR_ROOT: '', CTR_RUNROOT: '' } });
      expect(r.stdout).toBe('/var/lib/ctr /run/ctr\n');
      return;
    }
    const r = await env.ctr(['info', '--format', '{{.store.root}} {{.store.runroot}}'], { env: { CTR_ROOT: '', CTR_RUNROOT: '' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${join(env.home, '.local/share/ctr')} /tmp/ctr-run-${actor.uid}/ctr\n`);
    const st = statSync(`/tmp/ctr-run-${actor.uid}`);
    expect(st.uid).toBe(actor.uid);
    expect(st.mode & 0o777).toBe(0o700);
    const xdg = await env.ctr(['info', '--format', '{{.store.root}} {{.store.runroot}}'], {
      env: { CTR_ROOT: '', CTR_RUNROOT: '', XDG_DATA_HOME: join(env.dir, 'data'), XDG_RUNTIME_DIR: join(env.dir, 'run') },
    });
    expect(xdg.stdout).toBe(`${join(env.dir, 'data/ctr')} ${join(env.dir, 'run/ctr')}\n`);
  });
});
