import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
