import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, linkSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseKeyValues } from '../../src/engine/volume.js';
import { ANONYMOUS_LABEL, checkVolumeName, VolumeStore } from '../../src/store/volumes.js';

describe('volume names', () => {
  it("accepts docker's grammar", () => {
    for (const name of ['ab', 'my-vol', 'data_1.2', '0cache', 'A.b-c_d']) expect(() => checkVolumeName(name)).not.toThrow();
  });

  it('refuses one-character names, leading punctuation, slashes and path tricks', () => {
    for (const name of ['a', '', '-ab', '.ab', '_ab', 'a/b', '..', '../x', '/abs', 'a b', 'a:b', 'é1']) {
      expect(() => checkVolumeName(name), name).toThrow(/not a valid volume name/);
    }
  });
});

describe('--label and --opt lists', () => {
  it('split at the first = and take a bare key as an empty value', () => {
    expect(parseKeyValues(['a=b', 'o=size=100m', 'flag', 'e='], '--label')).toEqual({ a: 'b', o: 'size=100m', flag: '', e: '' });
  });

  it('refuse an empty key', () => {
    expect(() => parseKeyValues(['=x'], '--opt')).toThrow('--opt "=x" has no key');
  });
});

describe('the volume store', () => {
  let dir: string;
  let volumes: VolumeStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ctr-volumes-'));
    volumes = new VolumeStore(join(dir, 'volumes'), (p) => rm(p, { recursive: true, force: true }));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("lays volumes out as docker does and lists them by name", () => {
    const { volume, created } = volumes.create('web', { a: 'b' }, { options: { type: 'tmpfs' } });
    volumes.create('cache');
    expect(created).toBe(true);
    expect(volume).toMatchObject({ Name: 'web', Driver: 'local', Scope: 'local', Labels: { a: 'b' }, Options: { type: 'tmpfs' }, anonymous: false });
    expect(volume.Mountpoint).toBe(join(dir, 'volumes/web/_data'));
    expect(volume.CreatedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(statSync(volume.Mountpoint).mode & 0o7777).toBe(0o755);
    expect(volumes.list().map((v) => v.Name)).toEqual(['cache', 'web']);
    expect(volumes.dataPath('web')).toBe(volume.Mountpoint);
    expect(volumes.exists('web')).toBe(true);
    expect(volumes.exists('nope')).toBe(false);
  });

  it('returns the existing volume when asked to create a name again, keeping its labels', () => {
    volumes.create('web', { a: 'b' });
    writeFileSync(join(volumes.dataPath('web'), 'kept'), 'x');
    const again = volumes.create('web', { other: 'label' });
    expect(again.created).toBe(false);
    expect(again.volume.Labels).toEqual({ a: 'b' });
    expect(readdirSync(volumes.dataPath('web'))).toEqual(['kept']);
  });

  it('gives unnamed volumes 64-hex names, and anonymous ones the docker label', () => {
    const plain = volumes.create().volume;
    const anon = volumes.create(undefined, {}, { anonymous: true }).volume;
    expect(plain.Name).toMatch(/^[a-f0-9]{64}$/);
    expect(plain.anonymous).toBe(false);
    expect(anon.Name).toMatch(/^[a-f0-9]{64}$/);
    expect(anon.anonymous).toBe(true);
    expect(anon.Labels).toEqual({ [ANONYMOUS_LABEL]: '' });
  });

  it('never shows a half-made volume, and clears what a crashed create left', () => {
    mkdirSync(join(dir, 'volumes/.tmp/deadbeef/_data'), { recursive: true });
    mkdirSync(join(dir, 'volumes/manual'));
    expect(volumes.list()).toEqual([]);
    volumes.create('web');
    expect(readdirSync(join(dir, 'volumes/.tmp'))).toEqual([]);
  });

  it('refuses to take over a directory that is not a volume', () => {
    mkdirSync(join(dir, 'volumes/manual/stuff'), { recursive: true });
    expect(() => volumes.create('manual')).toThrow(/exists but is not a volume/);
    expect(existsSync(join(dir, 'volumes/manual/stuff'))).toBe(true);
  });

  it('makes a removed volume disappear at once, its files deleted after', async () => {
    volumes.create('web');
    writeFileSync(join(volumes.dataPath('web'), 'f'), 'data');
    const trash = volumes.detach('web');
    expect(trash).toBeDefined();
    expect(volumes.exists('web')).toBe(false);
    expect(volumes.list()).toEqual([]);
    expect(existsSync(join(trash!, '_data/f'))).toBe(true);
    await volumes.purge(trash!);
    expect(existsSync(trash!)).toBe(false);
    expect(volumes.detach('web')).toBeUndefined();
    expect(await volumes.remove('web')).toBe(false);
  });

  it('measures the data, counting a hard-linked file once', () => {
    volumes.create('web');
    const data = volumes.dataPath('web');
    mkdirSync(join(data, 'sub'));
    writeFileSync(join(data, 'sub/a'), 'x'.repeat(1000));
    linkSync(join(data, 'sub/a'), join(data, 'b'));
    writeFileSync(join(data, 'c'), 'yy');
    expect(volumes.diskUsage('web')).toBe(1002);
  });
});
