import { createInterface } from 'node:readline/promises';
import type { Readable, Writable } from 'node:stream';
import { Command, Option } from 'clipanion';
import { CtrError } from '../../errors.js';
import { CtrCommand } from '../command.js';
import { authFileOption, certDirOption, parseBool, tlsVerifyOption } from '../options.js';

export class LoginCommand extends CtrCommand {
  static override paths = [['login']];
  static override usage = Command.Usage({
    category: 'Images',
    description: 'log in to a registry',
    details: `
      Checks the username and password against the registry (its basic or token authentication) and, when they work, stores them in a docker-compatible auth file, mode 0600: \`--authfile\`, \`$REGISTRY_AUTH_FILE\`, or \`\${XDG_CONFIG_HOME:-~/.config}/containers/auth.json\`. Pulls and pushes then use them. ctr also reads \`~/.docker/config.json\` and containers' \`auth.json\` written by docker and podman.

      Give the password on standard input with \`--password-stdin\` so it stays out of the process list and shell history. On a terminal, missing values are asked for. Without a registry name, Docker Hub (docker.io) is meant. Without any credentials and without a terminal, the stored credentials are checked again.
    `,
    examples: [
      ['Log in with the password from a file', '$0 login -u alice --password-stdin registry.example:5000 < password.txt'],
      ['Log in to Docker Hub on a terminal', '$0 login'],
      ['Log in to a registry with a private CA', '$0 login --cert-dir ./certs.d -u alice --password-stdin registry.example:5000'],
    ],
  });

  username = Option.String('-u,--username', { description: 'user name on the registry' });
  password = Option.String('-p,--password', { description: 'password (insecure: prefer --password-stdin)' });
  passwordStdin = Option.Boolean('--password-stdin', false, { description: 'read the password from standard input' });
  authFile = authFileOption();
  certDir = certDirOption();
  tlsVerify = tlsVerifyOption();
  registry = Option.String({ name: 'REGISTRY', required: false });

  async execute(): Promise<number> {
    const { login } = await import('../../engine/login.js');
    const { stdin, stderr, stdout } = this.context;
    const terminal = (stdin as NodeJS.ReadStream).isTTY === true;
    let username = this.username;
    let password = this.password;
    if (this.passwordStdin) {
      if (password !== undefined) throw new CtrError('--password and --password-stdin cannot be used together');
      if (!username) throw new CtrError('--password-stdin needs --username, since standard input holds the password');
      password = (await readAll(stdin)).replace(/\r?\n$/, '');
    } else if (password !== undefined) {
      stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
    }
    if (terminal && (username === undefined || password === undefined)) {
      username ??= await askVisible(stdin, stderr, 'Username: ');
      password ??= await askHidden(stdin as NodeJS.ReadStream, stderr, 'Password: ');
    }
    const result = await login({
      registry: this.registry,
      username,
      password,
      authFile: this.authFile,
      certDir: this.certDir,
      tlsVerify: parseBool(this.tlsVerify, '--tls-verify'),
    });
    stdout.write(result.alreadyLoggedIn ? `Existing credentials are valid. Already logged in to ${result.registry}\n` : 'Login Succeeded!\n');
    return 0;
  }
}

async function readAll(input: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

async function askVisible(input: Readable, output: Writable, question: string): Promise<string> {
  const rl = createInterface({ input, output, terminal: true });
  try {
    return (await rl.question(question)).trim();
  } finally {
    rl.close();
  }
}

/** Reads a line with echo off, so the password never shows on the screen. */
function askHidden(input: NodeJS.ReadStream, output: Writable, question: string): Promise<string> {
  output.write(question);
  input.setRawMode(true);
  input.resume();
  let value = '';
  return new Promise((resolve, reject) => {
    const finish = (): void => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      output.write('\n');
    };
    const onData = (data: Buffer): void => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          finish();
          resolve(value);
          return;
        }
        if (ch === '\u0003') {
          finish();
          reject(new CtrError('login cancelled'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else value += ch;
      }
    };
    input.on('data', onData);
  });
}
