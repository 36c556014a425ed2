import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Script } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actors, CtrEnv, type Actor } from '../helpers/ctr.js';

const repo = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string };

interface Reference {
  version: string;
  commands: { paths: string[][]; description?: string; options: { names: string[] }[] }[];
}

// The single executable itself, copied where the test user can run it (whatever the test
// setup chose to stage for the other tests).
let bin: string;
let ctr: string;
let reference: Reference;

beforeAll(() => {
  const built = join(repo, 'dist/ctr');
  if (!existsSync(built)) throw new Error('dist/ctr is missing: run npm run build');
  bin = mkdtempSync(join(tmpdir(), 'ctr-packaging-'));
  chmodSync(bin, 0o755);
  ctr = join(bin, 'ctr');
  copyFileSync(built, ctr);
  chmodSync(ctr, 0o755);
  reference = JSON.parse(execFileSync(ctr, ['__reference'], { encoding: 'utf8' })) as Reference;
});

afterAll(() => {
  rmSync(bin, { recursive: true, force: true });
});

function paths(): string[][] {
  return reference.commands.flatMap((c) => c.paths);
}

describe('the single executable', () => {
  it('prints the package version for --version and version', () => {
    expect(execFileSync(ctr, ['--version'], { encoding: 'utf8' })).toBe(`ctr version ${pkg.version}\n`);
    expect(execFileSync(ctr, ['version'], { encoding: 'utf8' })).toMatch(new RegExp(`^ctr version ${pkg.version.replace(/\./g, '\\.')}\\n`));
  });

  it("ignores the user's NODE_OPTIONS", () => {
    const run = spawnSync(ctr, ['--version'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '--no-such-node-flag' } });
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe(`ctr version ${pkg.version}\n`);
  });

  it('compiles its bundle with the code cache the build trained on the common commands', () => {
    const store = mkdtempSync(join(tmpdir(), 'ctr-packaging-store-'));
    try {
      const run = spawnSync(ctr, ['--root', join(store, 'root'), '--runroot', join(store, 'run'), 'images'], { encoding: 'utf8', env: { ...process.env, CTR_DEBUG: '1' } });
      expect(run.stderr).toBe('ctr: code cache accepted\n');
      expect(run.stdout).toMatch(/^REPOSITORY +TAG +IMAGE ID/);
    } finally {
      rmSync(store, { recursive: true, force: true });
    }
    // Trained: it holds far more than the top level that compiling alone would give.
    const wrapped = readFileSync(join(repo, 'build/sea/ctr.wrapped.js'), 'latin1');
    const untrained = new Script(wrapped, { filename: 'ctr.js' }).createCachedData().length;
    expect(statSync(join(repo, 'build/sea/ctr.js.cache')).size).toBeGreaterThan(2 * untrained);
  });

  it('runs from a copy that has no build/ or node_modules beside it', () => {
    expect(readdirSync(bin)).toEqual(['ctr']);
    expect(execFileSync(ctr, ['__selftest-native'], { encoding: 'utf8', env: { ...process.env, HOME: bin, XDG_CACHE_HOME: join(bin, 'cache') } })).toBe('ok\n');
  });
});

describe.each(actors())('the addon inside the executable, as $kind', (actor: Actor) => {
  let env: CtrEnv;

  beforeAll(() => {
    env = new CtrEnv(actor);
  });

  afterAll(async () => {
    await env.cleanup();
  });

  async function selftest(extra: Record<string, string>): Promise<void> {
    const run = await env.exec([ctr, '__selftest-native'], { env: extra });
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('ok\n');
    expect(run.code).toBe(0);
  }

  function cachedAddons(dir: string): string[] {
    return readdirSync(dir).filter((f) => /^native-[0-9a-f]{16}\.node$/.test(f));
  }

  async function mkdirAs(dir: string): Promise<void> {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    chownSync(dir, actor.uid, actor.gid);
  }

  it('is written once to ~/.cache/ctr, created private when missing, and reused', async () => {
    await mkdirAs(env.home);
    const cache = join(env.home, '.cache/ctr');
    expect(existsSync(cache)).toBe(false);
    await selftest({});
    const [file] = cachedAddons(cache);
    expect(file).toBeDefined();
    const dirStat = statSync(cache);
    expect(dirStat.mode & 0o777).toBe(0o700);
    expect(dirStat.uid).toBe(actor.uid);
    const first = statSync(join(cache, file!));
    expect(first.uid).toBe(actor.uid);
    await selftest({});
    expect(cachedAddons(cache)).toEqual([file]);
    expect(statSync(join(cache, file!)).mtimeMs).toBe(first.mtimeMs);
    expect(readdirSync(cache).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('goes to $XDG_CACHE_HOME/ctr when that is set', async () => {
    const xdg = join(env.dir, 'xdg/cache');
    await selftest({ XDG_CACHE_HOME: xdg });
    expect(cachedAddons(join(xdg, 'ctr'))).toHaveLength(1);
  });

  it('falls back to a private ctr-UID directory in the temp dir when HOME is unusable', async () => {
    const tmp = join(env.dir, 'tmp');
    await mkdirAs(tmp);
    await selftest({ HOME: '/nonexistent', TMPDIR: tmp });
    expect(existsSync('/nonexistent')).toBe(false);
    const fallback = join(tmp, `ctr-${actor.uid}`);
    expect(statSync(fallback).mode & 0o777).toBe(0o700);
    expect(cachedAddons(fallback)).toHaveLength(1);
  });

  it("does not trust a ctr-UID directory someone else owns", async () => {
    const tmp = join(env.dir, 'tmp-taken');
    await mkdirAs(tmp);
    // Someone else got there first: another user for root, root for the user.
    const squatter = join(tmp, `ctr-${actor.uid}`);
    mkdirSync(squatter, { mode: 0o777 });
    chmodSync(squatter, 0o777);
    if (actor.uid === 0) execFileSync('chown', ['65534:65534', squatter]);
    await selftest({ HOME: '/nonexistent', TMPDIR: tmp });
    expect(readdirSync(squatter)).toEqual([]);
    // It loaded from a throwaway copy and left nothing behind.
    expect(readdirSync(tmp)).toEqual([`ctr-${actor.uid}`]);
  });

  it('shares the temp-dir fallback with runs inside a user namespace', async () => {
    const tmp = join(env.dir, 'tmp-userns');
    await mkdirAs(tmp);
    const extra = { HOME: '/nonexistent', TMPDIR: tmp };
    await selftest(extra);
    const run = await env.exec(['unshare', '--user', '--map-root-user', ctr, '__selftest-native'], { env: extra });
    expect(run.stdout).toBe('ok\n');
    expect(readdirSync(tmp)).toEqual([`ctr-${actor.uid}`]);
    expect(cachedAddons(join(tmp, `ctr-${actor.uid}`))).toHaveLength(1);
  });

  it('works inside a user namespace, where the user is root', async () => {
    await mkdirAs(env.home);
    const run = await env.exec(['unshare', '--user', '--map-root-user', ctr, '__selftest-native']);
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('ok\n');
    expect(cachedAddons(join(env.home, '.cache/ctr'))).toHaveLength(1);
  });
});

describe('man pages', () => {
  const man = join(repo, 'man');

  it('exist for ctr and every command path, and for nothing else', () => {
    const expected = ['ctr.1', ...paths().map((p) => `ctr-${p.join('-')}.1`)].sort();
    expect(readdirSync(man).filter((f) => f.endsWith('.1')).sort()).toEqual(expected);
    // Internal commands (the executable runs __selftest-native above) get no page.
    expect(readdirSync(man).filter((f) => f.includes('__'))).toEqual([]);
  });

  it("carry each command's description and options", () => {
    for (const command of reference.commands) {
      for (const path of command.paths) {
        const page = readFileSync(join(man, `ctr-${path.join('-')}.1`), 'utf8').replace(/\\-/g, '-');
        expect(page).toContain(`.SH NAME\nctr-${path.join('-')} - ${command.description}`);
        for (const option of command.options) for (const name of option.names) expect(page).toContain(name);
      }
    }
    const overview = readFileSync(join(man, 'ctr.1'), 'utf8').replace(/\\-/g, '-');
    for (const command of reference.commands) expect(overview).toContain(`.BR ctr-${command.paths[0]!.join('-')} (1)`);
  });

  it('render with man -l without warnings', () => {
    for (const file of readdirSync(man).filter((f) => f.endsWith('.1'))) {
      const run = spawnSync('man', ['--warnings', '-l', join(man, file)], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '80', MANPAGER: 'cat', PAGER: 'cat' } });
      expect({ file, stderr: run.stderr, code: run.status }).toEqual({ file, stderr: '', code: 0 });
      expect(run.stdout).toContain('NAME');
    }
  });
});

describe('shell completion', () => {
  function script(shell: string): string {
    const file = join(bin, `completion.${shell}`);
    execFileSync('sh', ['-c', `"$0" completion ${shell} > "$1"`, ctr, file]);
    return file;
  }

  function bashComplete(words: string[]): string[] {
    const out = execFileSync(
      'bash',
      ['-c', 'source "$0"; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _ctr; printf "%s\\n" "${COMPREPLY[@]}"', script('bash'), ...words],
      { encoding: 'utf8' },
    );
    return out.split('\n').filter(Boolean);
  }

  it('completes `ctr ver<TAB>` to version in bash', () => {
    expect(bashComplete(['ctr', 'ver'])).toEqual(['version']);
  });

  it('never offers internal commands', () => {
    expect(bashComplete(['ctr', '__'])).toEqual([]);
    expect(readFileSync(script('bash'), 'utf8')).not.toContain('__selftest');
  });

  it('offers every top-level command word in bash, after global options too', () => {
    const words = [...new Set(paths().map((p) => p[0]!))].sort();
    expect(bashComplete(['ctr', '']).sort()).toEqual(words);
    expect(bashComplete(['ctr', '--root', '/x', '']).sort()).toEqual(words);
  });

  it("completes a command's options in bash", () => {
    for (const command of reference.commands) {
      const names = command.options.flatMap((o) => o.names);
      expect(bashComplete(['ctr', ...command.paths[0]!, '-']).sort()).toEqual([...names, '--help'].sort());
    }
  });

  const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

  it.skipIf(!has('zsh'))('completes `ctr ver<TAB>` to version in zsh', () => {
    const out = execFileSync(
      'zsh',
      ['-c', 'compdef() { :; }; _files() { :; }; _describe() { print -l -- ${(P)4}; }; source "$0"; words=(ctr ver); CURRENT=2; _ctr', script('zsh')],
      { encoding: 'utf8' },
    );
    expect(out).toContain('version:show the ctr version');
  });

  it.skipIf(!has('fish'))('completes `ctr ver<TAB>` to version in fish', () => {
    const out = execFileSync('fish', ['-c', 'source $argv[1]; complete -C "ctr ver"', script('fish')], { encoding: 'utf8' });
    expect(out.split('\n')[0]).toMatch(/^version\t/);
  });

  it('refuses an unknown shell with exit code 125', () => {
    const run = spawnSync(ctr, ['completion', 'tcsh'], { encoding: 'utf8' });
    expect(run.status).toBe(125);
    expect(run.stderr).toContain('tcsh');
  });
});
