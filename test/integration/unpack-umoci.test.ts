import { execFileSync } from 'node:child_process';
import { chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startUnpack } from '../../src/engine/unpack.js';
import { native } from '../../src/native/index.js';
import { detectIdMapping } from '../../src/runtime/idmap.js';
import { everyCaseEntries, gzip, makeLayer, sha256, writeOciLayout } from '../fixtures/layers.js';
import { actors, CtrEnv } from '../helpers/ctr.js';

interface Node {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime?: number;
  content?: string;
  target?: string;
  xattrs: Record<string, string>;
  /** Paths sharing this inode (hard links), as a sorted list. */
  links?: string;
}

/** Walks a tree without following symlinks; names are kept as raw bytes (latin1 strings). */
function walk(root: string): Map<string, Node & { ino: number }> {
  const out = new Map<string, Node & { ino: number }>();
  const visit = (rel: Buffer) => {
    const path = Buffer.concat([Buffer.from(root), rel.length ? Buffer.from('/') : Buffer.alloc(0), rel]);
    const st = lstatSync(path);
    const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? `char ${st.rdev}` : st.isBlockDevice() ? 'block' : 'file';
    const xattrs: Record<string, string> = {};
    for (const name of native().llistxattr(path)) xattrs[name] = native().lgetxattr(path, name)!.toString('hex');
    out.set(rel.toString('latin1'), {
      type,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      mtime: Math.floor(st.mtimeMs / 1000),
      content: type === 'file' ? sha256(readFileSync(path)) : undefined,
      target: type === 'symlink' ? readlinkSync(path, 'latin1') : undefined,
      xattrs,
      ino: st.ino,
    });
    if (type === 'dir') {
      for (const name of readdirSync(path, { encoding: 'buffer' })) visit(rel.length ? Buffer.concat([rel, Buffer.from('/'), name]) : name);
    }
  };
  visit(Buffer.alloc(0));
  return out;
}

/** What both unpackers must agree on; `owners` false when umoci (rootless) cannot keep them. */
function comparable(tree: Map<string, Node & { ino: number }>, owners: boolean): Map<string, Node> {
  const byIno = new Map<number, string[]>();
  for (const [p, n] of tree) if (n.type !== 'dir') byIno.set(n.ino, [...(byIno.get(n.ino) ?? []), p]);
  const out = new Map<string, Node>();
  for (const [p, n] of tree) {
    const { ino, ...rest } = n;
    const node: Node = { ...rest, links: n.type !== 'dir' ? byIno.get(ino)!.sort().join(' ') : undefined };
    if (!owners) {
      node.uid = 0;
      node.gid = 0;
    }
    out.set(p, node);
  }
  return out;
}

const envs: CtrEnv[] = [];
afterAll(async () => {
  for (const env of envs) await env.cleanup();
});

for (const actor of actors()) {
  describe(`the tree ctr unpacks as ${actor.kind}`, () => {
    it('matches umoci unpack (owners, modes, links, xattrs, times)', async () => {
      const env = new CtrEnv(actor);
      envs.push(env);
      const entries = everyCaseEntries().filter((e) => e.type !== 'whiteout' && e.type !== 'opaque');
      const tar = makeLayer(entries);
      const layout = join(env.dir, 'oci');
      writeOciLayout(layout, [{ tar }], 'test');
      execFileSync('chmod', ['-R', 'a+rX', layout]);
      const bundle = join(env.dir, 'bundle');
      const umociArgs = ['unpack', ...(actor.kind === 'user' ? ['--rootless'] : []), '--image', `${layout}:test`, bundle];
      const u = await env.exec(['umoci', ...umociArgs]);
      expect(u.code, u.stderr).toBe(0);

      const dest = join(env.dir, 'layer');
      mkdirSync(dest);
      chownSync(dest, actor.uid, actor.gid);
      if (actor.kind === 'root') {
        const job = startUnpack({ dest, mapping: detectIdMapping(), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' });
        job.input.end(gzip(tar));
        expect((await job.done).diffId).toBe(sha256(tar));
      } else {
        const r = await env.ctr(['__layer', 'unpack', dest], { input: gzip(tar) });
        expect(r.code, r.stderr).toBe(0);
      }

      const rootless = actor.kind === 'user';
      const theirs = comparable(walk(join(bundle, 'rootfs')), !rootless);
      const ours = comparable(walk(join(dest, 'diff')), !rootless);
      // umoci leaves the root directory's times and metadata to the bundle; ours carries the layer's.
      theirs.delete('');
      ours.delete('');
      for (const [p, n] of theirs) {
        if (rootless) {
          // umoci rootless: devices become empty files, security.* is dropped, it tags owners in an xattr.
          delete n.xattrs['user.rootlesscontainers'];
          delete ours.get(p)?.xattrs['security.capability'];
          delete n.xattrs['security.capability'];
          if (p === 'dev/null') {
            expect(ours.has(p)).toBe(false);
            theirs.delete(p);
            continue;
          }
        }
        // Directories created only as parents get the time of unpacking in both.
        if (n.type === 'dir' && !entries.some((e) => e.type === 'dir' && e.path.toString().replace(/\/$/, '') === p)) {
          delete n.mtime;
          delete ours.get(p)?.mtime;
        }
      }
      expect(Object.fromEntries(ours)).toEqual(Object.fromEntries(theirs));
    });
  });
}
