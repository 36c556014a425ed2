import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { actors, CtrEnv, type RunResult } from '../helpers/ctr.js';

interface Reference {
  commands: { paths: string[][]; description?: string; options: { names: string[] }[] }[];
}

// ctr loads only the command a command line names (src/cli/commands.ts); these check that each
// one still finds its own options and help, and that anything else still gets every suggestion.
describe.each(actors())('the command line as $kind', (actor) => {
  let env: CtrEnv;
  let reference: Reference;

  beforeAll(async () => {
    env = new CtrEnv(actor);
    const out = await env.ctr(['__reference']);
    expect(out.code, out.stderr).toBe(0);
    reference = JSON.parse(out.stdout) as Reference;
  });

  afterAll(() => env.cleanup());

  it("shows each command's options in its --help, under every name of the command", async () => {
    const jobs = reference.commands.flatMap((command) => command.paths.map((path) => ({ command, path })));
    const results: [string[], RunResult][] = [];
    for (let i = 0; i < jobs.length; i += 4) {
      const batch = jobs.slice(i, i + 4);
      results.push(...(await Promise.all(batch.map(async ({ path }) => [path, await env.ctr([...path, '--help'])] as [string[], RunResult]))));
    }
    for (const [i, [path, help]] of results.entries()) {
      expect(help.code, `ctr ${path.join(' ')} --help: ${help.stderr}`).toBe(0);
      expect(help.stdout).toContain(`$ ctr ${jobs[i]!.command.paths[0]!.join(' ')}`);
      for (const option of jobs[i]!.command.options) expect(help.stdout, `ctr ${path.join(' ')} --help`).toContain(option.names.join(','));
    }
  });

  it('parses the options of the command it runs, wherever they stand', async () => {
    const out = await env.ctr(['ps', '--format', '{{.Names}}', '-a', '--no-trunc']);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toBe('');
    const bad = await env.ctr(['ps', '--no-such-flag']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain('Unsupported option name ("--no-such-flag")');
  });

  it('exits with its code and leaves the pipe it wrote to as it found it', async () => {
    // ctr skips Node's teardown once it is done (src/main.ts), but not Node's restoring of the
    // descriptors' flags: the shell shares this pipe, and must not find it left non-blocking.
    const ctr = inject('ctrCommand')
      .map((a) => `'${a.replaceAll("'", "'\\''")}'`)
      .join(' ');
    const script = `{ ${ctr} ps -a; echo "code $?"; grep ^flags: /proc/self/fdinfo/1; ${ctr} rm no-such 2>/dev/null; echo "code $?"; grep ^flags: /proc/self/fdinfo/1; } | cat`;
    const out = await env.exec(['sh', '-c', script]);
    expect(out.code, out.stderr).toBe(0);
    const lines = out.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^CONTAINER ID +IMAGE/);
    expect(lines.filter((l) => l.startsWith('code '))).toEqual(['code 0', 'code 1']);
    const flags = lines.filter((l) => l.startsWith('flags:')).map((l) => parseInt(l.split(/\s+/)[1]!, 8));
    expect(flags).toHaveLength(2);
    for (const f of flags) expect(f & 0o4000, 'O_NONBLOCK left on the pipe').toBe(0);
  });

  it('suggests the commands an unknown or misspelled command line may have meant', async () => {
    const cases: [string[], string][] = [
      [['imagess'], 'ctr images '],
      [['image', 'lss'], 'ctr images '],
      [['volume'], 'ctr volume ls '],
    ];
    for (const [argv, suggestion] of cases) {
      const out = await env.ctr(argv);
      expect(out.code, argv.join(' ')).toBe(125);
      expect(out.stderr).toContain('Command not found; did you mean');
      expect(out.stderr).toContain(suggestion);
    }
  });
});
