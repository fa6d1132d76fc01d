#!/usr/bin/env node
// The `lxssd` command: `serve` (the default) runs the service; `token` asks a running service for a token
// over the local socket; `open` signs the browser dashboard in; `openapi` prints the API document. The only file that reads process.env.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type Config,
  ConfigError,
  defaultConfigPath,
  defaultSocketPath,
  defaultStateDir,
  resolveConfig,
} from './config.js';
import { startListening } from './listen.js';
import { buildServer } from './server.js';
import { spawn } from 'node:child_process';
import { requestLoginUrl, requestToken } from './token-command.js';
import { LXSSD_VERSION } from './version.js';

const SETTINGS_NOTE = `Settings also come from the config file (INI; default ${defaultConfigPath(true, '~')} for root,
~/.config/lxssd/lxssd.conf otherwise) and LXSSD_LISTEN, LXSSD_SOCKET, LXSSD_STATE_DIR, LXSSD_LOG_LEVEL,
LXSSD_CONFIG; flags win over variables, variables over the file.`;

const USAGE = `usage:
  lxssd [serve] [--listen HOST:PORT] [--socket PATH] [--state-dir DIR] [--config FILE] [--log-level LEVEL]
  lxssd token [--socket PATH] [--label TEXT] [--expires-in SECONDS]
  lxssd open [--socket PATH] [--no-browser]
  lxssd openapi [--out FILE]
  lxssd --version | --help | COMMAND --help

${SETTINGS_NOTE}`;

const COMMAND_USAGE: Readonly<Record<'serve' | 'token' | 'open' | 'openapi', string>> = {
  serve: `usage: lxssd [serve] [--listen HOST:PORT] [--socket PATH] [--state-dir DIR] [--config FILE] [--log-level LEVEL]

Runs the service, as root: HTTP on loopback TCP and on the local Unix socket, where callers need no token.

  --listen HOST:PORT   loopback address to serve on (default 127.0.0.1:7071; any other address is refused)
  --socket PATH        the local socket (default /run/lxssd/lxssd.sock)
  --state-dir DIR      where distributions, tokens and registries live (default /var/lib/lxssd)
  --config FILE        the INI config file (default ${defaultConfigPath(true, '~')})
  --log-level LEVEL    fatal, error, warn, info, debug, trace or silent
  -h, --help           this text

${SETTINGS_NOTE}`,
  token: `usage: lxssd token [--socket PATH] [--label TEXT] [--expires-in SECONDS]

Mints a SID token for the calling user from a running service, over its local socket (the kernel tells the
service who is asking), and prints it once on stdout. Send it as \`Authorization: Bearer <token>\` over TCP.

  --socket PATH           the service's socket (default: $LXSSD_SOCKET, then /run/lxssd/lxssd.sock, then
                          the one under your own state directory)
  --label TEXT            a label to tell your tokens apart (default "lxssd token")
  --expires-in SECONDS    a lifetime; without it the token lasts until revoked
  -h, --help              this text`,
  open: `usage: lxssd open [--socket PATH] [--no-browser]

Signs the browser dashboard in: mints a one-time login code over the local socket and prints the dashboard's
URL with the code in its fragment (http://127.0.0.1:7071/#login=...), or opens it with xdg-open when there is a
display. The link works once, within 60 s; the page trades it for a dashboard token that lasts 12 hours.

  --socket PATH    the service's socket (as for lxssd token)
  --no-browser     only print the URL
  -h, --help       this text`,
  openapi: `usage: lxssd openapi [--out FILE]

Prints the service's OpenAPI document (what GET /openapi.json serves) without starting a service.

  --out FILE    write it to FILE instead of stdout
  -h, --help    this text`,
};

/** true (after printing the command's usage on stdout) when the arguments ask for help. */
function helpAsked(command: keyof typeof COMMAND_USAGE, help: boolean | undefined): boolean {
  if (help) process.stdout.write(`${COMMAND_USAGE[command]}\n`);
  return help === true;
}

const isRoot = process.getuid?.() === 0;
const home = homedir();

async function loadConfig(flags: Record<string, string | undefined>): Promise<Config> {
  const named = flags.config ?? process.env.LXSSD_CONFIG;
  const filePath = named ?? defaultConfigPath(isRoot, home);
  let fileText: string | undefined;
  try {
    fileText = await readFile(filePath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (named !== undefined || code !== 'ENOENT') {
      throw new ConfigError(`cannot read config file ${filePath}: ${(error as Error).message}`);
    }
  }
  return resolveConfig({
    isRoot,
    home,
    fileText,
    filePath,
    env: process.env,
    flags: { listen: flags.listen, socket: flags.socket, stateDir: flags['state-dir'], logLevel: flags['log-level'] },
  });
}

async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      listen: { type: 'string' },
      socket: { type: 'string' },
      'state-dir': { type: 'string' },
      config: { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const { help, ...flags } = values;
  if (helpAsked('serve', help)) return;
  if (!isRoot) {
    // Not a half-working service whose every import is a 500: the Linux backend maps each user's ids into
    // namespaces (and runs its helper) as root; there is no per-user mode yet.
    throw new ConfigError(
      'lxssd serve must run as root: it gives every local user their own distributions and sessions, and ' +
        'setting up their namespaces needs root. Start it as root (e.g. `sudo lxssd serve`); users then reach ' +
        'it on its socket without a token.',
    );
  }
  const config = await loadConfig(flags);
  const app = await buildServer(config);
  let closing = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (closing) {
      app.log.warn({ signal }, 'second signal: exiting at once');
      process.exit(1);
    }
    closing = true;
    app.log.info({ signal }, 'closing');
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        app.log.error({ err: error }, 'close failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  try {
    const listening = await startListening(app, config);
    app.log.info({ url: listening.url, socket: listening.socketPath, stateDir: config.stateDir }, 'lxssd ready');
  } catch (error) {
    await app.close().catch(() => undefined);
    throw error;
  }
}

async function token(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      socket: { type: 'string' },
      label: { type: 'string' },
      'expires-in': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (helpAsked('token', values.help)) return;
  const expires = values['expires-in'];
  if (expires !== undefined && !/^[1-9]\d*$/.test(expires)) {
    throw new ConfigError('--expires-in takes a number of seconds');
  }
  const secret = await requestToken(socketCandidates(values.socket), {
    label: values.label,
    expiresInSeconds: expires === undefined ? undefined : Number(expires),
  });
  process.stdout.write(`${secret}\n`);
}

function socketCandidates(socket: string | undefined): string[] {
  if (socket) return [socket];
  return [process.env.LXSSD_SOCKET, defaultSocketPath(true, ''), defaultSocketPath(false, defaultStateDir(false, home))].filter(
    (path): path is string => Boolean(path),
  );
}

async function open(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { socket: { type: 'string' }, 'no-browser': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (helpAsked('open', values.help)) return;
  const url = await requestLoginUrl(socketCandidates(values.socket));
  process.stdout.write(`${url}\n`);
  const display = process.env.DISPLAY || process.env.WAYLAND_DISPLAY;
  if (display && !values['no-browser']) {
    // Best effort: without xdg-open the printed URL is the way in.
    const opener = spawn('xdg-open', [url], { detached: true, stdio: 'ignore' });
    opener.on('error', () => undefined);
    opener.unref();
  } else {
    process.stderr.write('lxssd: open that URL in a browser on this machine; it works once, within 60 s\n');
  }
}

async function openapi(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (helpAsked('openapi', values.help)) return;
  const stateDir = await mkdtemp(join(tmpdir(), 'lxssd-openapi-'));
  try {
    const config = resolveConfig({ isRoot, home, env: {}, flags: { stateDir, logLevel: 'silent' } });
    const app = await buildServer(config);
    await app.ready();
    const document = `${JSON.stringify(app.swagger(), null, 2)}\n`;
    await app.close();
    if (values.out) await writeFile(values.out, document);
    else process.stdout.write(document);
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
}

async function main(argv: string[]): Promise<void> {
  const [first, ...rest] = argv;
  if (first === '--help' || first === '-h' || first === 'help') {
    const topic = first === 'help' ? rest[0] : undefined;
    if (topic !== undefined && !Object.hasOwn(COMMAND_USAGE, topic)) throw new ConfigError(`unknown command "${topic}"\n${USAGE}`);
    process.stdout.write(`${topic === undefined ? USAGE : COMMAND_USAGE[topic as keyof typeof COMMAND_USAGE]}\n`);
    return;
  }
  if (first === '--version' || first === '-V') {
    process.stdout.write(`${LXSSD_VERSION}\n`);
    return;
  }
  switch (first) {
    case 'token':
      return token(rest);
    case 'open':
      return open(rest);
    case 'openapi':
      return openapi(rest);
    case 'serve':
      return serve(rest);
    case undefined:
      return serve([]);
    default:
      if (first.startsWith('-')) return serve(argv);
      throw new ConfigError(`unknown command "${first}"\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`lxssd: ${message}\n`);
  process.exit(error instanceof ConfigError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1);
});
