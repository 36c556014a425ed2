import { Command, Option } from 'clipanion';
import { CtrError } from '../../errors.js';
import { CtrCommand } from '../command.js';
import { renderList } from '../format/table.js';
import { authFileOption, certDirOption, credsOption, registryAccess, tlsVerifyOption } from '../options.js';

const DESCRIPTION_WIDTH = 45;

export class SearchCommand extends CtrCommand {
  static override paths = [['search']];
  static override usage = Command.Usage({
    category: 'Images',
    description: 'search a registry for images',
    details: `
      A plain TERM searches Docker Hub; \`HOST[:PORT]/TERM\` searches that registry. Registries with a search API (Docker Hub's \`/v1/search\`) show NAME, DESCRIPTION, STARS and OFFICIAL; others list the repositories of their catalog (\`/v2/_catalog\`) whose name contains TERM. \`--list-tags\` lists the tags of one repository instead.

      \`--format\` takes a Go template (\`{{.Name}}\`), \`table\` followed by a template, or \`json\`. Template fields: Index, Name, Description, Stars, Official, Automated, Tag.
    `,
    examples: [
      ['Search Docker Hub', '$0 search busybox'],
      ['Repositories of a private registry whose name contains "app"', '$0 search registry.example:5000/app'],
      ['Every repository of a private registry', '$0 search registry.example:5000/'],
      ['Tags of a repository', '$0 search --list-tags registry.example:5000/team/app'],
      ['Only official images with 10 stars or more', '$0 search --filter is-official=true --filter stars=10 nginx'],
    ],
  });

  limit = Option.String('--limit', { description: 'at most this many results (default 25)' });
  filters = Option.Array('-f,--filter', [], { description: 'stars=N, is-official=true|false, is-automated=true|false' });
  format = Option.String('--format', { description: 'Go template, table TEMPLATE, or json' });
  noTrunc = Option.Boolean('--no-trunc', false, { description: 'do not shorten descriptions' });
  listTags = Option.Boolean('--list-tags', false, { description: 'list the tags of the repository TERM names' });
  tlsVerify = tlsVerifyOption();
  certDir = certDirOption();
  authFile = authFileOption();
  creds = credsOption();
  term = Option.String({ name: 'TERM' });

  async execute(): Promise<number> {
    const limit = this.limit === undefined ? undefined : Number(this.limit);
    if (limit !== undefined && (!/^\d+$/.test(this.limit!) || limit < 1)) throw new CtrError(`--limit takes a positive number, not "${this.limit}"`);
    const { search } = await import('../../engine/search.js');
    const rows = await search({ term: this.term, limit, listTags: this.listTags, filters: this.filters, ...registryAccess(this) });
    const data = rows.map((r) => ({
      Index: r.index,
      Name: r.name,
      Description: this.noTrunc || r.description.length <= DESCRIPTION_WIDTH ? r.description : `${r.description.slice(0, DESCRIPTION_WIDTH - 3)}...`,
      Stars: r.stars ?? '',
      Official: r.official ? '[OK]' : '',
      Automated: r.automated ? '[OK]' : '',
      Tag: r.tag ?? '',
    }));
    const columns = this.listTags ? ['Name', 'Tag'] : ['Name', 'Description', 'Stars', 'Official'];
    this.context.stdout.write(renderList({ format: this.format, rows: data, defaultColumns: columns }));
    return 0;
  }
}
