// `lxss` (wsl.exe for lxssd) driven as a user drives it, against a real server: import from a file and from
// stdin, listings for people and for jq, WSL's three ways to start a process and their exit codes, pipes
// byte-identical both ways, export, terminate, unregister — and a clear 255 when it cannot do its own job.

import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { type AddressInfo, createServer } from 'node:net';
import { promisify } from 'node:util';
import { eventually } from '../helpers/eventually.js';
import { localRequest } from '../helpers/local-client.js';
import { lxss, type LxssResult, startLxss } from '../helpers/lxss-cli.js';
import { tokenOf } from '../helpers/process-client.js';
import { busyboxRootfsTar } from '../helpers/rootfs.js';
import { sharedTempDir, startServer, type TestServer } from '../helpers/server.js';
import { digestTar } from '../helpers/tar-digest.js';
import { isRoot } from '../helpers/users.js';

const exec = promisify(execFile);

/** A loopback port nothing listens on (it was free a moment ago). */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

function ok(result: LxssResult, what: string): LxssResult {
  assert.equal(result.code, 0, `${what}: exit ${result.code}, stderr ${result.stderr}`);
  return result;
}

async function withDistribution(t: TestContext): Promise<{ server: TestServer; env: Record<string, string>; dir: string }> {
  const server = await startServer(t);
  const dir = await sharedTempDir('lxss-cli-');
  t.after(() => rm(dir, { recursive: true, force: true }));
  const env = { LXSS_SOCKET: server.socketPath, HOME: dir };
  ok(await lxss(['--import', 'deb', join(dir, 'deb'), await busyboxRootfsTar()], env), 'import');
  return { server, env, dir };
}

describe('lxss, the command line', { skip: !isRoot && 'needs root for namespaces' }, () => {
  it('imports from a file and from stdin, and lists for people and for scripts', { timeout: 180_000 }, async (t) => {
    const server = await startServer(t);
    const dir = await sharedTempDir('lxss-cli-');
    t.after(() => rm(dir, { recursive: true, force: true }));
    const env = { LXSS_SOCKET: server.socketPath };
    const tar = await busyboxRootfsTar();

    const fromFile = ok(await lxss(['--import', 'first', join(dir, 'not', 'yet', 'there'), tar], env), 'import from a file');
    assert.match(fromFile.stdout.toString(), /The operation completed successfully/);
    assert.ok((await stat(join(dir, 'not', 'yet', 'there'))).isDirectory(), 'the install folder was made, as wsl --import does');
    ok(await lxss(['import', 'second', join(dir, 'second'), '-'], env, { file: tar }), 'import from stdin (the alias verb)');

    const plain = ok(await lxss(['-l'], env), 'list').stdout.toString();
    assert.match(plain, /^first \(Default\)$/m);
    assert.match(plain, /^second$/m);
    const verbose = ok(await lxss(['--list', '--verbose'], env), 'list -v').stdout.toString().split('\n');
    assert.match(verbose[0] ?? '', /^\s+NAME\s+STATE\s+VERSION$/);
    assert.ok(verbose.some((line) => /^\* first\s+Stopped\s+2$/.test(line)), verbose.join('\n'));
    assert.ok(verbose.some((line) => /^ {2}second\s+Stopped\s+2$/.test(line)), verbose.join('\n'));
    assert.deepEqual(ok(await lxss(['list', '-q'], env), 'list -q').stdout.toString().split('\n').filter(Boolean).sort(), ['first', 'second']);
    const json = JSON.parse(ok(await lxss(['-l', '--json'], env), 'list --json').stdout.toString()) as Array<{ name: string; isDefault: boolean; state: string }>;
    assert.deepEqual(json.map((d) => [d.name, d.isDefault, d.state]).sort(), [['first', true, 'Installed'], ['second', false, 'Installed']]);

    ok(await lxss(['-d', 'second', '-e', 'true'], env), 'a run');
    const running = ok(await lxss(['-l', '--running', '-q'], env), 'list --running').stdout.toString();
    assert.equal(running, 'second\n');

    ok(await lxss(['-s', 'second'], env), 'set-default');
    assert.match(ok(await lxss(['-l'], env), 'list').stdout.toString(), /^second \(Default\)$/m);
    assert.equal(ok(await lxss(['-e', 'cat', '/etc/hostname'], env), 'the default now').code, 0);
    const second = json.find((d) => d.name === 'second') as unknown as { id: string };
    assert.equal(ok(await lxss(['--distribution-id', second.id, '-e', 'echo', 'by id'], env), 'by id').stdout.toString(), 'by id\n');

    const refused = await lxss(['--import', 'first', join(dir, 'again'), tar], env);
    assert.equal(refused.code, 255);
    assert.match(refused.stderr, /^lxss: ERROR_ALREADY_EXISTS: .*first/m, 'the problem’s code and detail');
  });

  it('runs WSL’s three ways, with the process’s exit codes', { timeout: 180_000 }, async (t) => {
    const { env, server } = await withDistribution(t);
    assert.equal((await lxss(['-e', 'true'], env)).code, 0);
    const three = await lxss(['-d', 'deb', '--', 'echo out; echo err >&2; exit 3'], env);
    assert.equal(three.code, 3, 'a command line runs in the shell, and its code is lxss’s');
    assert.equal(three.stdout.toString(), 'out\n');
    assert.equal(three.stderr, 'err\n');
    const words = await lxss(['echo', 'a', '$HOME'], env);
    assert.equal(words.stdout.toString(), 'a /root\n', 'the words are one command line for the shell, as with wsl and ssh');
    const exact = await lxss(['--exec', 'echo', 'a', '$HOME'], env);
    assert.equal(exact.stdout.toString(), 'a $HOME\n', '--exec: argv as it is, no shell');
    assert.equal((await lxss(['--shell-type', 'none', 'sh', '-c', 'exit 4'], env)).code, 4);

    const killed = await lxss(['-e', 'sh', '-c', 'kill -9 $$'], env);
    assert.equal(killed.code, 137, 'SIGKILL: 128 + 9, as shells report it');

    const missing = await lxss(['-e', '/no/such/program'], env);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /no\/such\/program/, 'and why');

    // No command: the user's login shell, reading its commands from stdin here.
    const login = await lxss([], env, Buffer.from('echo "$0 in $PWD"; exit 6\n'));
    assert.equal(login.code, 6);
    assert.equal(login.stdout.toString(), '-sh in /root\n', 'a login shell (argv0 -sh) in the home');

    assert.equal((await lxss(['--cd', '~', '-e', 'pwd'], env)).stdout.toString(), '/root\n');
    assert.equal((await lxss(['--cd', '/etc', '-e', 'pwd'], env)).stdout.toString(), '/etc\n');
    ok(await lxss(['-u', 'root', '--', 'echo nobody:x:65534:65534:nobody:/nonexistent:/bin/sh >> /etc/passwd'], env), 'adding nobody');
    const nobody = ok(await lxss(['-u', 'nobody', '--', 'id -u; pwd'], env), '-u nobody');
    assert.equal(nobody.stdout.toString(), '65534\n/\n', 'a user whose home does not exist runs, in /');
    assert.equal((await lxss(['-u', '65534', '-e', 'id', '-u'], env)).stdout.toString(), '65534\n', 'a uid works too');
    const unknown = await lxss(['-u', 'nosuchuser', '-e', 'true'], env);
    assert.equal(unknown.code, 255);
    assert.match(unknown.stderr, /WSL_E_USER_NOT_FOUND/);

    // SIGINT to lxss reaches the process; the shell’s answer to it is 130.
    const sleeping = startLxss(['-e', 'sleep', '100'], env);
    await eventually(async () => {
      const { body } = await localRequest(server.socketPath, 'GET', '/v1/processes');
      assert.ok((body.processes as Array<{ argv: string[]; state: string }>).some((p) => p.argv[0] === 'sleep' && p.state === 'running'));
    }, { timeoutMs: 20_000, what: 'sleep running' });
    sleeping.child.kill('SIGINT');
    const interrupted = await sleeping.done;
    assert.equal(interrupted.code, 130, `after SIGINT: ${interrupted.stderr}`);
  });

  it('pipes 10 MB through cat byte-identical, and passes stdin’s end on', { timeout: 180_000 }, async (t) => {
    const { env, dir } = await withDistribution(t);
    const echoed = await lxss(['--', 'cat'], env, Buffer.from('hi\n'));
    assert.equal(echoed.stdout.toString(), 'hi\n');
    const data = randomBytes(10 * 1024 * 1024);
    const file = join(dir, 'data.bin');
    await writeFile(file, data);
    const piped = ok(await lxss(['-e', 'cat'], env, { file }), 'cat');
    assert.equal(piped.stdout.length, data.length);
    assert.ok(piped.stdout.equals(data), 'byte-identical');
    const counted = ok(await lxss(['-e', 'wc', '-c'], env, data), 'wc -c');
    assert.equal(counted.stdout.toString().trim(), String(data.length), 'every byte, then EOF');
  });

  it('exports to a file and to stdout, terminates and unregisters', { timeout: 180_000 }, async (t) => {
    const { env, dir, server } = await withDistribution(t);
    const original = await digestTar(await busyboxRootfsTar());
    const file = join(dir, 'deb.tar.gz');
    ok(await lxss(['--export', 'deb', file], env), 'export to a file');
    const header = (await readFile(file)).subarray(0, 2);
    assert.deepEqual([...header], [0x1f, 0x8b], 'gzip, from the file’s name');
    const tar = join(dir, 'deb.tar');
    await writeFile(tar, ok(await lxss(['export', 'deb', '-'], env), 'export to stdout').stdout);
    const exported = await digestTar(tar);
    for (const entry of ['etc/hostname', 'etc/passwd', 'bin/busybox']) {
      assert.deepEqual(exported.get(entry), original.get(entry), `the exported ${entry} is the imported one`);
    }
    const gzipped = await digestTar(file, true);
    assert.deepEqual(gzipped.get('bin/busybox'), original.get('bin/busybox'), 'and in the .tar.gz');

    ok(await lxss(['-e', 'true'], env), 'start it');
    assert.equal((await localRequest(server.socketPath, 'GET', '/v1/distributions/deb/instance')).status, 200);
    ok(await lxss(['-t', 'deb'], env), 'terminate');
    assert.equal((await localRequest(server.socketPath, 'GET', '/v1/distributions/deb/instance')).status, 404, 'no instance');
    ok(await lxss(['--manage', 'deb', '--set-default-user', 'root'], env), 'manage');
    const status = ok(await lxss(['--status'], env), 'status').stdout.toString();
    assert.match(status, /^Default Distribution: deb$/m);
    ok(await lxss(['--manage', 'deb', '--move', join(dir, 'moved')], env), 'move');
    assert.equal((await localRequest(server.socketPath, 'GET', '/v1/distributions/deb')).body.basePath, join(dir, 'moved'));
    ok(await lxss(['-e', 'true'], env), 'start it again');
    ok(await lxss(['--shutdown'], env), 'shutdown');
    assert.equal((await localRequest(server.socketPath, 'GET', '/v1/vm')).body.state, 'Stopped', 'the VM is down');
    ok(await lxss(['--unregister', 'deb'], env), 'unregister');
    assert.equal(ok(await lxss(['-l', '--json'], env), 'list').stdout.toString().trim(), '[]');
    const gone = await lxss(['-d', 'deb', '-e', 'true'], env);
    assert.equal(gone.code, 255);
    assert.match(gone.stderr, /^lxss: WSL_E_DISTRO_NOT_FOUND: /m);
  });

  it('finds the server: LXSS_HOST and LXSS_TOKEN, the user’s socket, a saved token — and says what it tried', { timeout: 120_000 }, async (t) => {
    const server = await startServer(t);
    const home = await sharedTempDir('lxss-home-');
    t.after(() => rm(home, { recursive: true, force: true }));
    const token = await tokenOf(server);

    const byHost = ok(await lxss(['--status', '--json'], { LXSS_HOST: server.url, LXSS_TOKEN: token, HOME: home }), 'LXSS_HOST');
    assert.equal(JSON.parse(byHost.stdout.toString()).defaultDistribution, null);

    const closedPort = await freePort();
    const deadHost = await lxss(['-l'], { LXSS_HOST: `http://127.0.0.1:${closedPort}`, LXSS_TOKEN: token, LXSS_SOCKET: server.socketPath, HOME: home });
    assert.equal(deadHost.code, 255, 'no fallback when LXSS_HOST is set');
    assert.match(deadHost.stderr, /^lxss: LXSSD_E_NOT_RUNNING: no lxssd answers at LXSS_HOST http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)\n$/);

    const badToken = await lxss(['-l'], { LXSS_HOST: server.url, LXSS_TOKEN: 'lxss_nope', HOME: home });
    assert.equal(badToken.code, 255);
    assert.match(badToken.stderr, /^lxss: ERROR_NOT_AUTHENTICATED: .*token/m, `the service’s own reason: ${badToken.stderr}`);

    const rootSocketThere = await stat('/run/lxssd/lxssd.sock').then(() => true, () => false);
    if (!rootSocketThere) {
      const nothing = await lxss(['-l'], { HOME: home });
      assert.equal(nothing.code, 255);
      assert.match(nothing.stderr, /^lxss: LXSSD_E_NOT_RUNNING: no lxssd answers; tried \/run\/lxssd\/lxssd\.sock \(ENOENT\), .*\.local\/state\/lxssd\/lxssd\.sock \(ENOENT\), no saved token/);

      await mkdir(join(home, '.local', 'state', 'lxssd'), { recursive: true });
      await symlink(server.socketPath, join(home, '.local', 'state', 'lxssd', 'lxssd.sock'));
      ok(await lxss(['-l'], { HOME: home }), 'the user’s socket');
      await rm(join(home, '.local', 'state', 'lxssd', 'lxssd.sock'));

      ok(await lxss(['token', 'save', '--url', server.url], { HOME: home }, Buffer.from(`${token}\n`)), 'token save');
      const saved = join(home, '.config', 'lxss', 'token.json');
      assert.equal((await stat(saved)).mode & 0o777, 0o600, 'only its owner may read the saved token');
      const bySaved = ok(await lxss(['-l', '--json'], { HOME: home }), 'the saved token');
      assert.equal(bySaved.stdout.toString().trim(), '[]');
      ok(await lxss(['token', 'forget'], { HOME: home }), 'token forget');
    }

    const missingSocket = await lxss(['-l'], { LXSS_SOCKET: join(home, 'nothing.sock'), HOME: home });
    assert.equal(missingSocket.code, 255);
    assert.match(missingSocket.stderr, /nothing\.sock \(ENOENT\)/, 'what was tried');
  });

  it('says how it is used, refuses bad usage with 255, and completes names in bash and zsh', { timeout: 120_000 }, async (t) => {
    const { env } = await withDistribution(t);
    const help = ok(await lxss(['--help'], env), 'help').stdout.toString();
    for (const flag of ['--import', '--export', '--list', '--shell-type', '--cd', '--exec', '--terminate', '--manage', 'LXSS_HOST']) {
      assert.ok(help.includes(flag), `help names ${flag}`);
    }
    const both = await lxss(['-l', '--shutdown'], env);
    assert.equal(both.code, 255);
    assert.match(both.stderr, /one of --list, --shutdown at a time/);
    const unknown = await lxss(['--frobnicate'], env);
    assert.equal(unknown.code, 255);
    assert.match(unknown.stderr, /unknown option '--frobnicate'/);
    const format = await lxss(['--export', 'deb', '-', '--format', 'zip'], env);
    assert.equal(format.code, 255);

    const version = ok(await lxss(['--version'], env), 'version').stdout.toString();
    assert.match(version, /^lxss version: \d+\.\d+\.\d+\nlxssd version: \d+\.\d+\.\d+\n/);

    const script = ok(await lxss(['completion', 'bash'], env), 'completion bash').stdout.toString();
    const binDir = await sharedTempDir('lxss-bin-');
    t.after(() => rm(binDir, { recursive: true, force: true }));
    await symlink(new URL('../../../bin/lxss.js', import.meta.url).pathname, join(binDir, 'lxss'));
    const completionEnv = { ...process.env, ...env, PATH: `${binDir}:${process.env.PATH}` };
    const complete = async (words: string[]) => {
      const line = `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _lxss; printf '%s\\n' "\${COMPREPLY[@]}"`;
      return (await exec('bash', ['-c', `${script}\n${line}`], { env: completionEnv })).stdout.split('\n').filter(Boolean);
    };
    assert.deepEqual(await complete(['lxss', '-d', 'd']), ['deb'], 'distribution names from the server');
    assert.deepEqual(await complete(['lxss', '--shell-type', 'l']), ['login']);
    assert.ok((await complete(['lxss', '--imp'])).includes('--import'));
    assert.ok((await complete(['lxss', 'li'])).includes('list'));

    const zsh = await exec('sh', ['-c', 'command -v zsh']).then(() => true, () => false);
    if (zsh) {
      const zshScript = ok(await lxss(['completion', 'zsh'], env), 'completion zsh').stdout.toString();
      const loaded = await exec('zsh', ['-f', '-c', `autoload -U compinit && compinit -u && eval "$1" && whence -w _lxss`, 'zsh', zshScript], { env: completionEnv });
      assert.match(loaded.stdout, /_lxss: function/);
    }
  });
});
