/** One authentication challenge from a `WWW-Authenticate` header (RFC 7235). */
export interface Challenge {
  /** Lower-cased scheme: "bearer", "basic", ... */
  scheme: string;
  /** Parameters with lower-cased names: realm, service, scope, error... */
  params: Record<string, string>;
}

const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]+/y;
const SPACE = /[ \t]*/y;
const BARE_VALUE = /[^,\s"]*/y;
const TOKEN68 = /[A-Za-z0-9\-._~+/]+=*/y;

function match(re: RegExp, s: string, pos: number): string | undefined {
  re.lastIndex = pos;
  const m = re.exec(s);
  return m ? m[0] : undefined;
}

/**
 * Parses every challenge in a WWW-Authenticate value, e.g.
 * `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"`.
 * Several challenges may share one header, separated by commas; unparseable tails are dropped.
 */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  if (Array.isArray(header)) return header.flatMap((h) => parseChallenges(h));
  const out: Challenge[] = [];
  const s = header;
  let pos = 0;
  let current: Challenge | undefined;
  const skip = (): void => {
    pos += match(SPACE, s, pos)?.length ?? 0;
  };
  while (pos < s.length) {
    skip();
    if (s[pos] === ',') {
      pos++;
      continue;
    }
    const word = match(TOKEN, s, pos);
    if (word === undefined) break;
    const afterWord = pos + word.length;
    let p = afterWord + (match(SPACE, s, afterWord)?.length ?? 0);
    if (s[p] === '=' && current) {
      p++;
      p += match(SPACE, s, p)?.length ?? 0;
      let value: string;
      if (s[p] === '"') {
        value = '';
        p++;
        while (p < s.length && s[p] !== '"') {
          if (s[p] === '\\' && p + 1 < s.length) p++;
          value += s[p];
          p++;
        }
        p++;
      } else {
        // Lenient: some servers leave URLs unquoted, which is not a token but is unambiguous.
        value = match(BARE_VALUE, s, p) ?? '';
        p += value.length;
      }
      current.params[word.toLowerCase()] = value;
      pos = p;
      continue;
    }
    // A bare word starts a new challenge; token68 values (Basic's base64 credentials) only follow a scheme.
    current = { scheme: word.toLowerCase(), params: {} };
    out.push(current);
    pos = afterWord;
    skip();
    const t68 = match(TOKEN68, s, pos);
    const after = t68 === undefined ? '' : s.slice(pos + t68.length).trimStart();
    if (t68 !== undefined && (after === '' || after.startsWith(','))) {
      current.params['token68'] = t68;
      pos += t68.length;
    }
  }
  return out;
}

/** The challenge ctr will answer: bearer if offered, else basic. */
export function pickChallenge(challenges: Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
}
