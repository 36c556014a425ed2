import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { actors, CtrEnv } from '../helpers/ctr.js';
import { makeLayer, type LayerEntry } from '../fixtures/layers.js';
import { busyboxLayer, pushRunImage, usersLayer } from '../fixtures/run-images.js';
import { useRunImages } from '../fixtures/run-registry.js';

const images = useRunImages();

/*
 * Names are byte strings here (one latin1 character per byte): '\xff' is the single byte 0xff,
 * which is not UTF-8, as `touch $'\xff'` makes it. Comparing byte strings compares raw names.
 */
const LONG_FILE = `long/${'a'.repeat(120)}\xff`;
const SPLIT_DIR = `${'p'.repeat(60)}\xff`;
const SPLIT_FILE = `${SPLIT_DIR}/${'q'.repeat(60)}\xff`;
/** What a tree holds under its top, relative to it, in byte order: dirs end with '/'. */
const TREE = ['h\xff', 'l\xff', 'long/', LONG_FILE, `${SPLIT_DIR}/`, SPLIT_FILE, '\xfe\xfd/', '\xfe\xfd/f\xff', '\xff'].sort();
const LINK_TARGET = '\xfe\xfd/f\xff';

/** A byte string as a shell word: printf with octal escapes for the bytes that are not ASCII. */
function sh(name: string): string {
  return `"$(printf '${[...name].map((c) => (c.charCodeAt(0) < 0x80 ? c : `\\${c.charCodeAt(0).toString(8)}`)).join('')}')"`;
}

/** Makes the tree in DIR inside a container with busybox: files, a hard link and a symlink, all with names that are not UTF-8. */
function makeTree(dir: string): string {
  const p = (name: string) => sh(`${dir}/${name}`);
  return [
    'set -e',
    `mkdir -p ${p('long')} ${p(SPLIT_DIR)} ${p('\xfe\xfd')}`,
    `echo ff > ${p('\xff')}`,
    `echo in-dir > ${p('\xfe\xfd/f\xff')}`,
    `echo long > ${p(LONG_FILE)}`,
    `echo split > ${p(SPLIT_FILE)}`,
    `ln ${p('\xff')} ${p('h\xff')}`,
    `ln -s ${sh(LINK_TARGET)} ${p('l\xff')}`,
  ].join('\n');
}

/**
 * Prints, in hex, what a container sees of the tree in DIR: every name under it (find's output),
 * the symlink's target, and whether the hard link shares its file's inode.
 */
function probeTree(dir: string): string {
  const hex = '| od -An -tx1 -v | tr -d " \\n"';
  return [
    `cd ${sh(dir)}`,
    `find . ${hex}`,
    'echo',
    `readlink ${sh('l\xff')} ${hex}`,
    'echo',
    `[ "$(stat -c %i ${sh('\xff')})" = "$(stat -c %i ${sh('h\xff')})" ] && echo same-inode`,
    `cat ${sh('\xff')} ${sh('\xfe\xfd/f\xff')} ${sh(LONG_FILE)} ${sh(SPLIT_FILE)}`,
  ].join('; ');
}

/** The probe's output as byte strings: the names found (sorted bytewise, without './'), the link target and the rest. */
function parseProbe(stdout: string): { names: string[]; link: string; rest: string[] } {
  const [found, link, ...rest] = stdout.split('\n');
  const names = Buffer.from(found!, 'hex')
    .toString('latin1')
    .split('\n')
    .filter((n) => n !== '' && n !== '.')
    .map((n) => n.replace(/^\.\//, ''))
    .sort();
  return { names, link: Buffer.from(link!, 'hex').toString('latin1').replace(/\n$/, ''), rest };
}

const TREE_FILES = TREE.map((n) => n.replace(/\/$/, '')).sort();
const PROBE_REST = ['same-inode', 'ff', 'in-dir', 'long', 'split', ''];

/** GNU tar's member names of a tar file, as byte strings, exactly as stored (no quoting). */
function gnuTarNames(file: string): string[] {
  return execFileSync('tar', ['-t', '--quoting-style=literal', '-f', file]).toString('latin1').split('\n').filter(Boolean);
}

/** Every name under dir on this machine, as byte strings relative to it (directories end with '/'). */
function hostTree(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(Buffer.from(join(dir, rel), 'latin1'), { encoding: 'latin1' })) {
    const path = rel ? `${rel}/${name}` : name;
    const isDir = lstatSync(Buffer.from(join(dir, path), 'latin1')).isDirectory();
    out.push(isDir ? `${path}/` : path);
    if (isDir) out.push(...hostTree(dir, path));
  }
  return out.sort();
}

function readlinkOrNull(path: string): string | null {
  try {
    return readlinkSync(Buffer.from(path, 'latin1'), { encoding: 'latin1' });
  } catch {
    return null;
  }
}

describe.each(actors())('names that are not UTF-8 as $kind', (actor) => {
  let env: CtrEnv;
  let pulled: string;
  beforeAll(async () => {
    // The same tree as a pulled layer, one copy with PAX long names and one with GNU ones.
    // The hard link after the file it links to.
    const entries = (top: string): LayerEntry[] => [
      { type: 'dir', path: top },
      ...[...TREE.filter((n) => n !== 'h\xff'), 'h\xff'].map((n): LayerEntry => {
        const path = Buffer.from(`${top}/${n.replace(/\/$/, '')}`, 'latin1');
        if (n.endsWith('/')) return { type: 'dir', path };
        if (n === 'h\xff') return { type: 'hardlink', path, target: Buffer.from(`${top}/\xff`, 'latin1') };
        if (n === 'l\xff') return { type: 'symlink', path, target: Buffer.from(LINK_TARGET, 'latin1') };
        const content = { '\xff': 'ff', '\xfe\xfd/f\xff': 'in-dir', [LONG_FILE]: 'long', [SPLIT_FILE]: 'split' }[n]!;
        return { type: 'file', path, content: `${content}\n` };
      }),
    ];
    pulled = `${images.registry.host}/test/odd-names:latest`;
    await pushRunImage(images.registry, 'test/odd-names', 'latest', [busyboxLayer(), usersLayer(), makeLayer(entries('pax')), makeLayer(entries('gnu'), { longNames: 'gnu' })], { Cmd: ['sh'] });
    env = await CtrEnv.withImages(actor, images.base, pulled);
  });
  afterAll(async () => {
    await env?.cleanup();
  });
  afterEach(() => env.removeContainers());

  /** A ctr command's stdout as bytes, through a file: env.ctr decodes stdout as text. */
  const ctrBytes = async (args: string[]): Promise<Buffer> => {
    const file = join(env.dir, 'stdout.bin');
    const r = await env.exec(['sh', '-c', '"$@" > stdout.bin', 'sh', ...inject('ctrCommand'), ...args]);
    expect(r.code, r.stderr).toBe(0);
    return readFileSync(file);
  };
  const probe = async (image: string, dir: string) => {
    const r = await env.ctr(['run', '--rm', image, 'sh', '-c', probeTree(dir)]);
    expect(r.code, r.stderr).toBe(0);
    return parseProbe(r.stdout);
  };

  it('a pulled layer with such names (PAX and GNU long names) unpacks them byte for byte', async () => {
    for (const top of ['/pax', '/gnu']) {
      expect(await probe(pulled, top)).toEqual({ names: TREE_FILES, link: LINK_TARGET, rest: PROBE_REST });
    }
  });

  it('diff lists them, commit keeps them, save writes them, and a container of the committed image sees them exactly', async () => {
    const made = await env.ctr(['run', '--name', 'odd', images.base, 'sh', '-c', makeTree('/odd')]);
    expect(made.code, made.stderr).toBe(0);

    // docker walks parents first, names in byte order: here that is the paths' byte order.
    const diff = (await ctrBytes(['diff', 'odd'])).toString('latin1');
    expect(diff.split('\n').filter(Boolean)).toEqual(['A /odd', ...TREE_FILES.map((n) => `A /odd/${n}`)].sort());

    const committed = await env.ctr(['commit', 'odd', 'test/odd:1']);
    expect(committed.code, committed.stderr).toBe(0);
    expect(await probe('test/odd:1', '/odd')).toEqual({ names: TREE_FILES, link: LINK_TARGET, rest: PROBE_REST });

    // The committed layer as save writes it, listed by GNU tar.
    const saved = join(env.dir, 'saved');
    mkdirSync(saved);
    const save = await env.ctr(['save', '-o', join(env.dir, 'img.tar'), 'test/odd:1']);
    expect(save.code, save.stderr).toBe(0);
    execFileSync('tar', ['-xf', join(env.dir, 'img.tar')], { cwd: saved });
    const manifest = JSON.parse(readFileSync(join(saved, 'manifest.json'), 'utf8')) as { Layers: string[] }[];
    const layer = join(saved, manifest[0]!.Layers.at(-1)!);
    expect(gnuTarNames(layer).filter((n) => n.startsWith('odd/')).sort()).toEqual(['odd/', ...TREE.map((n) => `odd/${n}`)].sort());
  });

  it('export writes them as GNU tar reads them, and cp copies them out and in unchanged', async () => {
    const made = await env.ctr(['run', '--name', 'odd', images.base, 'sh', '-c', makeTree('/odd')]);
    expect(made.code, made.stderr).toBe(0);
    const expected = ['odd/', ...TREE.map((n) => `odd/${n}`)].sort();

    const exported = join(env.dir, 'export.tar');
    expect((await env.ctr(['export', '-o', exported, 'odd'])).code).toBe(0);
    expect(gnuTarNames(exported).filter((n) => n.startsWith('odd/')).sort()).toEqual(expected);

    const streamed = join(env.dir, 'cp.tar');
    writeFileSync(streamed, await ctrBytes(['cp', 'odd:/odd', '-']));
    expect(gnuTarNames(streamed).sort()).toEqual(expected);

    // Out to a directory of this machine, and from there back into the container under a new name.
    const out = join(env.dir, 'out');
    expect((await env.ctr(['cp', 'odd:/odd', out])).code).toBe(0);
    expect(hostTree(out)).toEqual(TREE);
    expect(readlinkOrNull(join(out, 'l\xff'))).toBe(LINK_TARGET);
    expect(statSync(Buffer.from(join(out, 'h\xff'), 'latin1')).ino).toBe(statSync(Buffer.from(join(out, '\xff'), 'latin1')).ino);

    const back = await env.ctr(['cp', out, 'odd:/back']);
    expect(back.code, back.stderr).toBe(0);
    const diff = (await ctrBytes(['diff', 'odd'])).toString('latin1');
    expect(diff.split('\n').filter((l) => l.startsWith('A /back'))).toEqual(['A /back', ...TREE_FILES.map((n) => `A /back/${n}`)].sort());
    expect((await env.ctr(['commit', 'odd', 'test/odd:2'])).code).toBe(0);
    expect(await probe('test/odd:2', '/back')).toEqual({ names: TREE_FILES, link: LINK_TARGET, rest: PROBE_REST });
  });
});
