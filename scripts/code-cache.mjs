// V8's code cache for the single executable, with every function that ctr's common commands
// compile (see src/sea/main.ts): the build runs those commands once, in one process, on a
// throwaway store, with /bin/true (as runc) standing in for the OCI runtime so that no container, namespace
// or registry is needed. What a command does not reach stays out and is compiled when used.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** The bundle wrapped as Node wraps a CommonJS module: the text both training and the executable compile. */
export function wrapBundle(source) {
  // The executable reads it as latin1, which is right for ASCII only (esbuild escapes the rest).
  const at = source.search(/[^\x00-\x7f]/);
  if (at >= 0) throw new Error(`dist/ctr.js has a non-ASCII character at offset ${at} (${JSON.stringify(source.slice(at - 20, at + 20))}): write it as an escape in the source`);
  return `(function (exports, require, module, __filename, __dirname) { ${source}\n});`;
}

// Runs in the training process: compiles the wrapped bundle as src/sea/main.ts does, runs it with
// the commands in CTR_CODE_CACHE_TRAINING, and writes V8's cache when the process ends.
const RUNNER = `
const { writeFileSync, readFileSync } = require('node:fs');
const { Script } = require('node:vm');
const [wrapped, bundle, out] = process.argv.slice(1);
const script = new Script(readFileSync(wrapped, 'utf8'), { filename: 'ctr.js' });
writeFileSync(out, script.createCachedData());
process.on('exit', () => writeFileSync(out, script.createCachedData()));
script.runInThisContext()(module.exports, require, module, bundle, require('node:path').dirname(bundle));
`;

/** The commands the cache is trained on, with a throwaway store in `dir` and an image made from a tiny layer. */
async function trainingCommands(node, bundleFile, dir) {
  const layer = join(dir, 'layer');
  mkdirSync(join(layer, 'etc'), { recursive: true });
  writeFileSync(join(layer, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  // Owned by root, which rootless is the user: nothing in the store needs the user namespace to go.
  await promisify(execFile)('tar', ['-cf', join(dir, 'layer.tar'), '--owner=0', '--group=0', '--numeric-owner', '-C', layer, '.']);
  // Named runc, so that runs also take the path of a runtime started from its sealed copy.
  const runtime = join(dir, 'runc');
  symlinkSync('/bin/true', runtime);
  const g = ['--root', join(dir, 'root'), '--runroot', join(dir, 'run'), '--runtime', runtime];
  const image = 'localhost/ctr-code-cache:1';
  // The image comes from a process of its own: import is not worth a place in every start's cache.
  await promisify(execFile)(node, [bundleFile, ...g, 'import', join(dir, 'layer.tar'), image]);
  return [
    [...g, 'images'],
    [...g, 'run', '--rm', image, 'true'],
    [...g, 'run', '--rm', '-e', 'A=1', '-v', `${layer}:/mnt:ro`, '--name', 'ctr-code-cache', image, 'true'],
    [...g, 'create', '--name', 'kept', image, 'true'],
    [...g, 'start', '-a', 'kept'],
    [...g, 'ps', '-a'],
    [...g, 'inspect', 'kept'],
    [...g, 'rm', 'kept'],
    [...g, 'volume', 'ls'],
    [...g, 'rmi', image],
  ];
}

/**
 * Writes the wrapped bundle to `wrappedFile` and its trained code cache to `cacheFile`. Training
 * that fails leaves out only what it would have compiled: the result is then a warning to show.
 */
export async function buildCodeCache({ node, bundleFile, wrappedFile, cacheFile }) {
  writeFileSync(wrappedFile, wrapBundle(readFileSync(bundleFile, 'utf8')));
  const dir = mkdtempSync(join(tmpdir(), 'ctr-code-cache-'));
  try {
    let commands = [];
    let warning;
    try {
      commands = await trainingCommands(node, bundleFile, dir);
    } catch (err) {
      warning = `cannot prepare the code cache's training (${err.message})`;
    }
    const env = { ...process.env, CTR_CODE_CACHE_TRAINING: JSON.stringify(commands) };
    const { stdout } = await promisify(execFile)(node, ['-e', RUNNER, wrappedFile, bundleFile, cacheFile], { env, maxBuffer: 16 << 20 });
    const codes = /^ctr-code-cache-training: (.*)$/m.exec(stdout)?.[1];
    if (!warning && codes !== JSON.stringify(commands.map(() => 0))) warning = `the code cache's training commands exited with ${codes ?? 'no result'}`;
    return warning && `${warning}; ctr starts slower where it failed`;
  } finally {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch (err) {
      process.stderr.write(`warning: cannot remove the code cache's training store ${dir}: ${err.message}\n`);
    }
  }
}
