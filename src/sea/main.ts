/**
 * The single executable's entry point. Node's own code cache for an executable holds what V8
 * compiles before anything runs: the bundle's top level, not the functions a command calls, which
 * V8 then compiled on every start (~15 ms of `ctr ps` or `ctr run`). The build runs ctr's common
 * commands once and keeps V8's cache of everything they compiled (scripts/code-cache.mjs); the
 * bundle is compiled here with that cache. A cache V8 rejects costs time, never correctness.
 */
import { getRawAsset } from 'node:sea';
import { Script } from 'node:vm';
import { version } from '../version.js';

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  // As the bundle's main() answers it, without loading the bundle (~10 ms).
  process.stdout.write(`ctr version ${version}\n`);
} else {
  // The build checked that the bundle is ASCII: latin1 is a copy, where utf8 would decode (~4 ms).
  const source = Buffer.from(getRawAsset('ctr.js')).toString('latin1');
  const script = new Script(source, { filename: 'ctr.js', cachedData: Buffer.from(getRawAsset('ctr.js.cache')) });
  if (process.env.CTR_DEBUG) process.stderr.write(`ctr: code cache ${script.cachedDataRejected ? 'rejected' : 'accepted'}\n`);
  // The bundle as Node wraps a module: a function of (exports, require, module, __filename, __dirname).
  (script.runInThisContext() as (...args: unknown[]) => void)(exports, require, module, __filename, __dirname);
}
