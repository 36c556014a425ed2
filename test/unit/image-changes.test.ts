import { describe, expect, it } from 'vitest';
import { applyChanges, parseChange, parseChanges, splitWords } from '../../src/image/changes.js';
import { CtrError } from '../../src/errors.js';

const apply = (changes: string[], base = {}) => applyChanges(base, parseChanges(changes));

describe('--change instructions', () => {
  it('CMD and ENTRYPOINT take the JSON exec form and the shell form through the image shell', () => {
    expect(apply(['CMD ["/app", "--serve"]']).Cmd).toEqual(['/app', '--serve']);
    expect(apply(['CMD echo "$HOME" && ls']).Cmd).toEqual(['/bin/sh', '-c', 'echo "$HOME" && ls']);
    expect(apply(['ENTRYPOINT ["tini", "--"]']).Entrypoint).toEqual(['tini', '--']);
    expect(apply(['ENTRYPOINT exec app'], { Shell: ['/bin/bash', '-o', 'pipefail', '-c'] }).Entrypoint).toEqual(['/bin/bash', '-o', 'pipefail', '-c', 'exec app']);
    // Not a JSON array of strings: shell form, as docker reads it.
    expect(apply(['CMD [1, 2]']).Cmd).toEqual(['/bin/sh', '-c', '[1, 2]']);
    expect(apply(['cmd ["lower-case", "keyword"]']).Cmd).toEqual(['lower-case', 'keyword']);
  });

  it('ENTRYPOINT drops the inherited CMD unless the changes set one', () => {
    expect(apply(['ENTRYPOINT ["app"]'], { Cmd: ['sh'] }).Cmd).toBeNull();
    expect(apply(['CMD ["x"]', 'ENTRYPOINT ["app"]'], { Cmd: ['sh'] })).toMatchObject({ Entrypoint: ['app'], Cmd: ['x'] });
    expect(apply(['ENTRYPOINT ["app"]', 'CMD ["y"]'], { Cmd: ['sh'] })).toMatchObject({ Entrypoint: ['app'], Cmd: ['y'] });
  });

  it('ENV replaces a variable in place and adds new ones, in both forms, with quotes', () => {
    const base = { Env: ['PATH=/bin', 'MODE=dev'] };
    expect(apply(['ENV MODE=prod NEW="a b" ESC=x\\ y'], base).Env).toEqual(['PATH=/bin', 'MODE=prod', 'NEW=a b', 'ESC=x y']);
    expect(apply(['ENV GREETING hello  world'], base).Env).toEqual(['PATH=/bin', 'MODE=dev', 'GREETING=hello world']);
    expect(base.Env).toEqual(['PATH=/bin', 'MODE=dev']);
  });

  it('LABEL, EXPOSE and VOLUME add to what the image has', () => {
    const out = apply(['LABEL a=1 "b c"=\'two words\'', 'EXPOSE 80 53/udp 8000-8002/TCP', 'VOLUME ["/data", "/logs"]', 'VOLUME /cache /tmp/x'], {
      Labels: { keep: 'yes' },
      ExposedPorts: { '22/tcp': {} },
    });
    expect(out.Labels).toEqual({ keep: 'yes', a: '1', 'b c': 'two words' });
    expect(Object.keys(out.ExposedPorts!)).toEqual(['22/tcp', '80/tcp', '53/udp', '8000/tcp', '8001/tcp', '8002/tcp']);
    expect(Object.keys(out.Volumes!)).toEqual(['/data', '/logs', '/cache', '/tmp/x']);
  });

  it('USER, STOPSIGNAL and WORKDIR, a relative WORKDIR joined to the one before', () => {
    expect(apply(['USER 1000:1000', 'STOPSIGNAL SIGINT'])).toMatchObject({ User: '1000:1000', StopSignal: 'SIGINT' });
    expect(apply(['WORKDIR /srv', 'WORKDIR app/../www']).WorkingDir).toBe('/srv/www');
    expect(apply(['WORKDIR rel'], {}).WorkingDir).toBe('/rel');
  });

  it('refuses what docker refuses, naming the change', () => {
    const bad = ['RUN echo hi', 'FROM x', 'ENV', 'ENV ONLYKEY', 'EXPOSE 0', 'EXPOSE 70000', 'EXPOSE http', 'USER a b', 'WORKDIR', 'STOPSIGNAL 99', 'STOPSIGNAL --', 'CMD', 'LABEL "unterminated=1', ''];
    for (const text of bad) {
      expect(() => parseChange(text), text).toThrow(CtrError);
    }
    expect(() => parseChange('RUN echo hi')).toThrow(/invalid --change "RUN echo hi": RUN is not an instruction/);
  });

  it('splits words like a Dockerfile', () => {
    expect(splitWords(`a "b c" 'd "e"' f\\ g "h\\"i"`)).toEqual(['a', 'b c', 'd "e"', 'f g', 'h"i']);
    expect(splitWords('  ')).toEqual([]);
    expect(splitWords('k=""')).toEqual(['k=']);
  });
});
