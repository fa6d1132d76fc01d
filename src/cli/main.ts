// `lxss`: wsl.exe for lxssd. The same verbs, flags, meanings and exit codes — the command's own code when a
// command runs (128+N after a signal), 255 (wsl.exe's -1) when lxss itself fails — plus the alias verbs of
// today's tools (`lxss list`, `lxss run`, `lxss import`), `--json` on listings, saved tokens and completion.

import { resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { LXSSD_VERSION } from '../version.js';
import { ALIASES } from './aliases.js';
import { bashCompletion, zshCompletion } from './completion.js';
import { type Connection, findServer } from './connect.js';
import { type ExecOptions, execute } from './exec.js';
import { CliFailure, failureFromAnswer, LXSS_FAILURE_EXIT } from './failure.js';
import { allDistributions, formatList, selectDistributions, status } from './listing.js';
import { forgetSavedToken, savedTokenPath, writeSavedToken } from './token-file.js';
import { EXPORT_FORMATS, type ExportFormat, exportDistribution, formatFromName, importDistribution } from './transfer.js';

interface WslOptions {
  distribution?: string;
  distributionId?: string;
  user?: string;
  cd?: string;
  shellType?: 'login' | 'standard' | 'none';
  exec?: boolean;
  list?: boolean;
  all?: boolean;
  running?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  json?: boolean;
  import?: string;
  export?: string;
  format?: ExportFormat;
  unregister?: string;
  terminate?: string;
  shutdown?: boolean;
  setDefault?: string;
  manage?: string;
  setDefaultUser?: string;
  move?: string;
  status?: boolean;
  version?: boolean;
}

const VERBS = ['list', 'import', 'export', 'unregister', 'terminate', 'shutdown', 'setDefault', 'manage', 'status', 'version'] as const;
const SUCCESS = 'The operation completed successfully.\n';

const ALIASES_HELP = `
Verbs may also be written as words: lxss list [-v|-q|--json], lxss run [options] [--] CMD..., lxss import NAME DIR FILE,
lxss export NAME FILE, lxss unregister NAME, lxss terminate NAME, lxss shutdown, lxss set-default NAME, lxss status,
lxss version; and lxss token save [TOKEN] [--url URL] | forget, lxss completion bash|zsh.

The command's words are joined into one command line for the user's shell, as wsl.exe and ssh do (quote for that
shell); with -e/--exec they are the program and its arguments, and no shell runs.

Finding the server: LXSS_HOST (http://127.0.0.1:7071, or a socket path) with LXSS_TOKEN when set; else
LXSS_SOCKET; else /run/lxssd/lxssd.sock, then ~/.local/state/lxssd/lxssd.sock; else the saved token's URL.
Exit status: the command's own (128+N after signal N); 255 when lxss itself fails (the reason is on stderr).`;

function wslProgram(): Command {
  return new Command('lxss')
    .description('Run commands in, and manage, the Linux distributions of lxssd (wsl.exe for lxssd)')
    .usage('[options] [--] [command...]')
    .argument('[command...]', 'what to run; none: your login shell')
    .option('-d, --distribution <name>', 'run in this distribution (default: your default one)')
    .option('--distribution-id <id>', 'run in the distribution with this id')
    .option('-u, --user <user>', 'run as this user (a name, or a uid)')
    .option('--cd <dir>', 'start in this folder of the distribution (~ is the user\'s home)')
    .addOption(new Option('--shell-type <type>', 'how the command is run').choices(['login', 'standard', 'none']))
    .option('-e, --exec', 'run the command as it is, with no shell')
    .option('-l, --list', 'list the distributions')
    .option('--all', 'with --list: also those being installed or removed')
    .option('--running', 'with --list: only the running ones')
    .option('-q, --quiet', 'with --list: names only')
    .option('-v, --verbose', 'with --list: state and version')
    .option('--json', 'with --list or --status: JSON')
    .option('--import <name>', 'import NAME DIR FILE|-: register a distribution from a tar (DIR is made if missing)')
    .option('--export <name>', 'export NAME FILE|-: write the distribution\'s files as an archive')
    .addOption(new Option('--format <format>', 'with --export (default: from FILE\'s name, else tar)').choices([...EXPORT_FORMATS]))
    .option('--unregister <name>', 'unregister the distribution and delete its files')
    .option('-t, --terminate <name>', 'stop the distribution\'s instance')
    .option('--shutdown', 'stop every instance and the VM')
    .option('-s, --set-default <name>', 'make the distribution your default')
    .option('--manage <name>', 'change a distribution: with --set-default-user USER or --move DIR')
    .option('--set-default-user <user>', 'with --manage')
    .option('--move <dir>', 'with --manage')
    .option('--status', 'the default distribution and the service\'s state')
    .option('--version', 'the versions of lxss and lxssd')
    .helpOption('-h, --help', 'show this help')
    .addHelpText('after', ALIASES_HELP)
    .passThroughOptions()
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`lxss: ${text.replace(/^error: /, '')}`) })
    .showSuggestionAfterError();
}

/** `lxss list -v` → `lxss -l -v`: the alias verbs are spelled as wsl.exe's flags. */
export function translateAliases(argv: string[]): string[] {
  const [first, ...rest] = argv;
  const flags = first === undefined ? undefined : ALIASES[first];
  return flags ? [...flags, ...rest] : argv;
}

function usage(detail: string): CliFailure {
  return new CliFailure('E_INVALIDARG', `${detail} (lxss --help)`);
}

function print(text: string): void {
  process.stdout.write(text);
}

async function withServer<T>(work: (connection: Connection) => Promise<T>): Promise<T> {
  const connection = await findServer(process.env);
  try {
    return await work(connection);
  } finally {
    await connection.client.close().catch(() => undefined);
  }
}

/** Waits for an answer with no body worth showing; a refusal becomes the CLI failure. */
async function succeeded(answer: Promise<{ error?: unknown; response: Response }>): Promise<void> {
  const { error, response } = await answer;
  if (!response.ok) throw failureFromAnswer(response.status, error);
}

async function runWsl(argv: string[]): Promise<number> {
  const program = wslProgram();
  program.parse(argv, { from: 'user' });
  const options = program.opts<WslOptions>();
  const command = program.args;
  const verbs = VERBS.filter((verb) => options[verb] !== undefined && options[verb] !== false);
  if (verbs.length > 1) throw usage(`one of --${verbs.join(', --')} at a time`);
  const verb = verbs[0];
  const positional = (count: number, names: string): string[] & [string, string] => {
    if (command.length !== count) throw usage(`--${verb} takes ${names}`);
    return command as string[] & [string, string];
  };
  if (verb === undefined && (options.setDefaultUser !== undefined || options.move !== undefined)) throw usage('--set-default-user and --move go with --manage NAME');
  if (verb !== undefined && !['import', 'export'].includes(verb) && command.length > 0) {
    throw usage(`--${verb} takes no command (got ${command.join(' ')})`);
  }

  switch (verb) {
    case 'version': {
      print(`lxss version: ${LXSSD_VERSION}\n`);
      try {
        await withServer(async (connection) => {
          const { data } = await connection.client.api.GET('/v1/version');
          if (data) print(`lxssd version: ${data.version}\nAPI version: ${data.apiVersion}\nPlatform: ${data.platform}/${data.arch} (${data.backend})\n`);
        });
      } catch (error) {
        process.stderr.write(`lxss: lxssd: ${error instanceof CliFailure ? error.detail : (error as Error).message}\n`);
      }
      return 0;
    }
    case 'list':
      return withServer(async (connection) => {
        const listOptions = { all: !!options.all, running: !!options.running, quiet: !!options.quiet, verbose: !!options.verbose, json: !!options.json };
        print(formatList(selectDistributions(await allDistributions(connection), listOptions), listOptions));
        return 0;
      });
    case 'status':
      return withServer(async (connection) => {
        print(await status(connection, !!options.json));
        return 0;
      });
    case 'import': {
      const [location, file] = positional(2, 'NAME DIR FILE (FILE - reads stdin)');
      const name = options.import as string;
      return withServer(async (connection) => {
        const imported = await importDistribution(connection, name, location, file);
        for (const warning of imported.warnings ?? []) process.stderr.write(`lxss: warning: ${warning}\n`);
        if (options.json) print(`${JSON.stringify(imported, null, 2)}\n`);
        else print(SUCCESS);
        return 0;
      });
    }
    case 'export': {
      const [file] = positional(1, 'NAME FILE (FILE - writes stdout)');
      const format = options.format ?? formatFromName(file);
      return withServer(async (connection) => {
        await exportDistribution(connection, options.export as string, file, format);
        if (file !== '-') print(SUCCESS);
        return 0;
      });
    }
    case 'unregister':
      return withServer(async (connection) => {
        await succeeded(connection.client.api.DELETE('/v1/distributions/{distro}', { params: { path: { distro: options.unregister as string } } }));
        print(SUCCESS);
        return 0;
      });
    case 'terminate':
      return withServer(async (connection) => {
        await succeeded(connection.client.api.DELETE('/v1/distributions/{distro}/instance', { params: { path: { distro: options.terminate as string } } }));
        print(SUCCESS);
        return 0;
      });
    case 'shutdown':
      return withServer(async (connection) => {
        await succeeded(connection.client.api.POST('/v1/shutdown', {}));
        print(SUCCESS);
        return 0;
      });
    case 'setDefault':
      return withServer(async (connection) => {
        await succeeded(connection.client.api.PUT('/v1/default-distribution', { body: { distro: options.setDefault as string } }));
        print(SUCCESS);
        return 0;
      });
    case 'manage': {
      const distro = options.manage as string;
      if ((options.setDefaultUser === undefined) === (options.move === undefined)) throw usage('--manage NAME takes one of --set-default-user USER or --move DIR');
      return withServer(async (connection) => {
        if (options.setDefaultUser !== undefined) {
          const user = options.setDefaultUser;
          const patch = /^\d+$/.test(user) ? { defaultUid: Number(user) } : { defaultUser: user };
          await succeeded(connection.client.api.PATCH('/v1/distributions/{distro}', { params: { path: { distro } }, body: patch }));
        } else {
          await succeeded(connection.client.api.POST('/v1/distributions/{distro}/move', { params: { path: { distro } }, body: { location: resolve(options.move as string) } }));
        }
        print(SUCCESS);
        return 0;
      });
    }
    default: {
      if (options.distribution !== undefined && options.distributionId !== undefined) throw usage('give -d NAME or --distribution-id ID, not both');
      const exec: ExecOptions = {
        distro: options.distribution ?? options.distributionId ?? '@default',
        command,
        exec: !!options.exec,
        shellType: options.shellType,
        user: options.user,
        cwd: options.cd,
      };
      return withServer((connection) => execute(connection, exec));
    }
  }
}

async function runToken(argv: string[]): Promise<number> {
  const program = new Command('lxss token')
    .description('Keep a token for a server no local socket reaches (a 0600 file in your config folder)')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`lxss: ${text.replace(/^error: /, '')}`) });
  let result = 0;
  program
    .command('save')
    .description('save TOKEN (or the first line of stdin) for URL')
    .argument('[token]', 'the token (lxssd token prints one); omitted: read from stdin')
    .option('--url <url>', 'the server it is for', 'http://127.0.0.1:7071')
    .action(async (token: string | undefined, options: { url: string }) => {
      let secret = token;
      if (secret === undefined) {
        const chunks: Buffer[] = [];
        for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
        secret = (Buffer.concat(chunks).toString('utf8').split('\n')[0] ?? '').trim();
      }
      if (!secret) throw usage('no token given');
      let url: URL;
      try {
        url = new URL(options.url);
      } catch {
        throw usage(`--url is not a URL: ${options.url}`);
      }
      const path = savedTokenPath(process.env);
      await writeSavedToken(path, { url: url.origin, token: secret });
      process.stderr.write(`lxss: token saved in ${path} for ${url.origin}\n`);
    });
  program
    .command('forget')
    .description('remove the saved token')
    .action(async () => {
      const path = savedTokenPath(process.env);
      if (!(await forgetSavedToken(path))) {
        process.stderr.write(`lxss: no saved token (${path})\n`);
        result = 1;
      }
    });
  await program.parseAsync(argv, { from: 'user' });
  return result;
}

function runCompletion(argv: string[]): number {
  const [shell] = argv;
  if (shell === 'bash') print(bashCompletion());
  else if (shell === 'zsh') print(zshCompletion());
  else throw usage('lxss completion bash|zsh');
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  try {
    const [first, ...rest] = argv;
    if (first === 'token') return await runToken(rest);
    if (first === 'completion') return runCompletion(rest);
    return await runWsl(translateAliases(argv));
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and its kind end with code 0; a usage error has already been printed.
      return error.exitCode === 0 ? 0 : LXSS_FAILURE_EXIT;
    }
    if (error instanceof CliFailure) {
      process.stderr.write(`lxss: ${error.code}: ${error.detail}\n`);
      return LXSS_FAILURE_EXIT;
    }
    process.stderr.write(`lxss: ${(error as Error).stack ?? String(error)}\n`);
    return LXSS_FAILURE_EXIT;
  }
}

