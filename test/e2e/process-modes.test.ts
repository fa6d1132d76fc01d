// WSL's three ways to start a process (a login shell, a command line through the user's shell, argv exec'd),
// cwd `~`, users without a home, and `@default` for the caller's default distribution, on real distributions.

import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { importAs, readableArchive as archive } from '../helpers/distros.js';
import { localRequest } from '../helpers/local-client.js';
import { busyboxRootfsTar, debianMinbaseTar } from '../helpers/rootfs.js';
import { sharedTempDir, startServer } from '../helpers/server.js';
import { curlLocalAs, ensureUser, isRoot } from '../helpers/users.js';

interface Run {
  id: string;
  stdout: string;
  stderr: string;
  exitCode: number;
  error: string | null;
}

interface ProcessView {
  argv: string[];
  executable: string;
  shell: string;
  state: string;
  exitCode: number | null;
  error: string | null;
}

const withDebian = process.env.LXSSD_TEST_DEBIAN !== '0';

/**
 * Root's Debian, with `/` as a real Debian has it (0755): the cached minbase tar's `./` entry is 0700 (it was
 * packed from a mkdtemp folder), and then no user but root could enter `/` at all.
 */
async function rootsDebian(t: Parameters<typeof startServer>[0], socketPath: string): Promise<void> {
  const root = await ensureUser('root');
  await importAs(root, socketPath, 'Debian', await archive(t, await debianMinbaseTar()));
  const opened = await localRequest(socketPath, 'POST', '/v1/distributions/Debian/run', { argv: ['chmod', '0755', '/'] });
  assert.equal(opened.body.exitCode, 0, JSON.stringify(opened.body));
}

/** A server with root's busybox distribution `bb`, and a `run` there that must answer 200. */
async function busyboxRunner(t: Parameters<typeof startServer>[0]) {
  const server = await startServer(t);
  const root = await ensureUser('root');
  await importAs(root, server.socketPath, 'bb', await archive(t, await busyboxRootfsTar()));
  const run = async (body: object): Promise<Run> => {
    const answer = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/run', body);
    assert.equal(answer.status, 200, `${JSON.stringify(body)}: ${JSON.stringify(answer.body)}`);
    return answer.body as Run;
  };
  return { server, root, run };
}

describe('the three ways to start a process', () => {
  it('starts the login shell with no argv and no commandLine, argv0 "-sh", and shows it in the process view', { timeout: 10 * 60_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    const { server, run } = await busyboxRunner(t);
    const view = async (id: string) => (await localRequest(server.socketPath, 'GET', `/v1/processes/${id}`)).body as ProcessView;

    // The shell reads its commands from stdin: its own /proc/self is the shell, so read $$'s.
    const login = await run({ stdin: 'cat /proc/$$/cmdline; exit 4\n' });
    assert.deepEqual([login.stdout, login.exitCode], ['-sh\0', 4], `a login shell: ${JSON.stringify(login)}`);
    const loginView = await view(login.id);
    assert.deepEqual([loginView.argv, loginView.executable, loginView.shell], [['-sh'], '/bin/sh', 'login'], 'the argv actually run');

    const explicitLogin = await run({ shell: 'login', stdin: 'cat /proc/$$/cmdline\n' });
    assert.equal(explicitLogin.stdout, '-sh\0', 'shell: login is the same');
    const standard = await run({ shell: 'standard', stdin: 'cat /proc/$$/cmdline\n' });
    assert.equal(standard.stdout, '/bin/sh\0', 'shell: standard is the shell, not a login shell');
    assert.deepEqual((await view(standard.id)).argv, ['/bin/sh']);
  });

  it('runs commandLine through the user’s shell as $SHELL -c, and argv with none [S7]', { timeout: 10 * 60_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    const server = await startServer(t);
    const root = await ensureUser('root');
    await importAs(root, server.socketPath, 'bb', await archive(t, await busyboxRootfsTar()));
    const run = async (body: object) => (await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/run', body)).body as Run;

    const command = await run({ commandLine: 'echo $0; exit 3' });
    assert.deepEqual([command.stdout, command.exitCode], ['/bin/sh\n', 3], `the shell ran it: ${JSON.stringify(command)}`);
    const view = (await localRequest(server.socketPath, 'GET', `/v1/processes/${command.id}`)).body as ProcessView;
    assert.deepEqual([view.argv, view.executable, view.shell], [['/bin/sh', '-c', 'echo $0; exit 3'], '/bin/sh', 'standard']);
    assert.equal((await run({ commandLine: 'echo $0', shell: 'login' })).stdout, '-sh\n', 'a login shell runs it with shell: login');
    assert.equal((await run({ commandLine: 'echo "$SHELL" | tr a-z A-Z' })).stdout, '/BIN/SH\n', 'pipes and quotes are the shell’s');

    // argv stays exactly argv: nothing is expanded, with or without shell: none.
    for (const body of [{ argv: ['echo', '$0', '*'] }, { argv: ['echo', '$0', '*'], shell: 'none' }]) {
      const plain = await run(body);
      assert.equal(plain.stdout, '$0 *\n', JSON.stringify(body));
      const plainView = (await localRequest(server.socketPath, 'GET', `/v1/processes/${plain.id}`)).body as ProcessView;
      assert.deepEqual([plainView.argv, plainView.executable, plainView.shell], [['echo', '$0', '*'], 'echo', 'none']);
    }

    // POST .../processes takes the same modes: a login shell with a terminal, then a command line.
    const created = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/processes', { tty: { cols: 80, rows: 24 } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual([created.body.argv, created.body.shell], [['-sh'], 'login'], 'a process with no argv is the login shell');
    assert.equal((await localRequest(server.socketPath, 'DELETE', `/v1/processes/${created.body.id}`)).status, 204);
    const withCommand = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/processes', { commandLine: 'exit 7' });
    assert.equal(withCommand.status, 201, JSON.stringify(withCommand.body));
    assert.deepEqual(withCommand.body.argv, ['/bin/sh', '-c', 'exit 7']);
  });

  it('refuses a request that names two ways at once, or none that can work, with 400 E_INVALIDARG', { timeout: 10 * 60_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    const server = await startServer(t);
    const root = await ensureUser('root');
    await importAs(root, server.socketPath, 'bb', await archive(t, await busyboxRootfsTar()));
    const cases: Array<[string, object, RegExp]> = [
      ['argv and commandLine', { argv: ['true'], commandLine: 'true' }, /argv .* or commandLine .*not both/],
      ['argv with a login shell', { argv: ['true'], shell: 'login' }, /shell "login" starts the user’s shell, but argv/],
      ['argv with a standard shell', { argv: ['true'], shell: 'standard' }, /shell "standard" starts the user’s shell, but argv/],
      ['shell none without argv', { shell: 'none' }, /shell "none" execs argv directly.*give argv/],
      ['shell none with commandLine', { shell: 'none', commandLine: 'true' }, /shell "none" execs argv directly/],
      ['an empty commandLine', { commandLine: '' }, /commandLine/],
      ['an unknown shell type', { shell: 'bash' }, /shell/],
    ];
    for (const path of ['/v1/distributions/bb/run', '/v1/distributions/bb/processes']) {
      for (const [what, body, detail] of cases) {
        const refused = await localRequest(server.socketPath, 'POST', path, body);
        assert.equal(refused.status, 400, `${path}, ${what}: ${JSON.stringify(refused.body)}`);
        assert.equal(refused.body.code, 'E_INVALIDARG', `${path}, ${what}`);
        assert.match(refused.body.detail, detail, `${path}, ${what}`);
      }
    }
    const listed = await localRequest(server.socketPath, 'GET', '/v1/processes');
    assert.deepEqual(listed.body.processes, [], 'nothing was started by a refused request');
  });

  it('uses the user’s own shell from the distribution’s /etc/passwd: -bash in Debian', { timeout: 15 * 60_000, skip: !withDebian && 'LXSSD_TEST_DEBIAN=0' }, async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    const server = await startServer(t);
    await rootsDebian(t, server.socketPath);
    const run = async (body: object) => (await localRequest(server.socketPath, 'POST', '/v1/distributions/Debian/run', body)).body as Run;
    const login = await run({ stdin: 'cat /proc/$$/cmdline; echo; shopt -q login_shell && echo login\n' });
    assert.equal(login.stdout, '-bash\0\nlogin\n', `bash knows it is a login shell: ${JSON.stringify(login)}`);
    assert.equal((await run({ commandLine: 'echo $0 $BASH_VERSION | cut -c1-11' })).stdout.slice(0, 10), '/bin/bash ');
    // nobody's shell is nologin: asked for a shell, nobody gets what WSL gives, nologin's refusal.
    const nobody = await run({ user: 'nobody', commandLine: 'id' });
    assert.equal(nobody.exitCode, 1, JSON.stringify(nobody));
    assert.match(nobody.stdout + nobody.stderr, /not available/);
  });
});

describe('cwd and the home', () => {
  it('takes ~ and ~/... for the user’s home; a cwd that does not exist is 125 with its reason', { timeout: 10 * 60_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    const { server, run } = await busyboxRunner(t);
    assert.equal((await run({ argv: ['pwd'], user: 'alice', cwd: '~' })).stdout, '/home/alice\n', '~ is the home');
    assert.equal((await run({ argv: ['pwd'], cwd: '~' })).stdout, '/root\n', "root's ~ is /root");
    assert.equal((await run({ argv: ['mkdir', '/home/alice/sub'], user: 'alice' })).exitCode, 0);
    assert.equal((await run({ argv: ['pwd'], user: 'alice', cwd: '~/sub' })).stdout, '/home/alice/sub\n', '~/sub is below the home');
    assert.equal((await run({ commandLine: 'pwd', user: 'alice' })).stdout, '/home/alice\n', 'the default is the home');

    for (const cwd of ['~/missing', '/nonexistent/dir']) {
      const missing = await run({ argv: ['pwd'], user: 'alice', cwd });
      const where = cwd.replace('~', '/home/alice');
      assert.equal(missing.exitCode, 125, `${cwd}: ${JSON.stringify(missing)}`);
      assert.match(missing.error ?? '', new RegExp(`^chdir ${where}: No such file or directory`), cwd);
    }
    for (const cwd of ['relative', '~alice', '~~']) {
      const refused = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/run', { argv: ['pwd'], cwd });
      assert.equal(refused.status, 400, `${cwd}: ${JSON.stringify(refused.body)}`);
    }
    // A uid the distribution does not list has no home: it runs in /.
    assert.equal((await run({ argv: ['pwd'], uid: 4242, cwd: '~' })).stdout, '/\n', 'no home: /');
  });

  it('runs a user whose home does not exist (nobody) in /, as WSL does', { timeout: 15 * 60_000, skip: !withDebian && 'LXSSD_TEST_DEBIAN=0' }, async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    const server = await startServer(t);
    await rootsDebian(t, server.socketPath);
    const run = async (body: object) => (await localRequest(server.socketPath, 'POST', '/v1/distributions/Debian/run', body)).body as Run;
    const passwd = await run({ argv: ['grep', '^nobody:', '/etc/passwd'] });
    assert.match(passwd.stdout, /^nobody:x:65534:65534:[^:]*:\/nonexistent:/, 'nobody’s home is one that does not exist');
    for (const body of [{ argv: ['pwd'], user: 'nobody' }, { argv: ['pwd'], user: 'nobody', cwd: '~' }]) {
      const ran = await run(body);
      assert.deepEqual([ran.stdout, ran.exitCode, ran.error], ['/\n', 0, null], `${JSON.stringify(body)}: ${JSON.stringify(ran)}`);
    }
    assert.equal((await run({ argv: ['id', '-un'], user: 'nobody' })).stdout, 'nobody\n');
    const below = await run({ argv: ['pwd'], user: 'nobody', cwd: '~/x' });
    assert.equal(below.exitCode, 125, 'a folder below a missing home is a cwd that does not exist');
    assert.match(below.error ?? '', /^chdir \/nonexistent\/x: /);
  });
});

describe('@default', () => {
  const families = (location: string): Array<[string, string, object | undefined]> => [
    ['GET', '/v1/distributions/@default', undefined],
    ['PATCH', '/v1/distributions/@default', { defaultEnvironment: ['PATH=/bin:/usr/bin', 'MARK=default'] }],
    ['POST', '/v1/distributions/@default/run', { argv: ['sh', '-c', 'echo $MARK; hostname'] }],
    ['POST', '/v1/distributions/@default/processes', { argv: ['sleep', '1000'] }],
    ['GET', '/v1/distributions/@default/processes', undefined],
    ['POST', '/v1/distributions/@default/instance', undefined],
    ['GET', '/v1/distributions/@default/instance', undefined],
    ['GET', '/v1/distributions/@default/mounts', undefined],
    ['DELETE', '/v1/distributions/@default/instance', undefined],
    ['GET', '/v1/distributions/@default/export', undefined],
    ['POST', '/v1/distributions/@default/move', { location }],
    ['DELETE', '/v1/distributions/@default', undefined],
  ];

  it('is 404 WSL_E_DEFAULT_DISTRO_NOT_FOUND on every route family when there is no default', async (t) => {
    if (!isRoot) return t.skip('needs root for the local socket as root');
    const server = await startServer(t);
    for (const [method, path, body] of families('/tmp/lxssd-nowhere')) {
      const answer = await localRequest(server.socketPath, method, path, body);
      assert.equal(answer.status, 404, `${method} ${path}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.code, 'WSL_E_DEFAULT_DISTRO_NOT_FOUND', `${method} ${path}`);
    }
    const named = await localRequest(server.socketPath, 'GET', '/v1/distributions/nosuch/instance');
    assert.equal(named.body.code, 'WSL_E_DISTRO_NOT_FOUND', 'a missing name stays a missing name');
  });

  it('stands for the default distribution on every route family, and follows the default', { timeout: 10 * 60_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    const server = await startServer(t);
    const root = await ensureUser('root');
    const tar = await archive(t, await busyboxRootfsTar());
    const first = await importAs(root, server.socketPath, 'first', tar);
    const second = await importAs(root, server.socketPath, 'second', tar);
    const moves = await sharedTempDir('lxssd-default-move-');
    t.after(() => rm(moves, { recursive: true, force: true }));
    const location = join(moves, 'moved');
    const set = await localRequest(server.socketPath, 'PUT', '/v1/default-distribution', { distro: 'second' });
    assert.equal(set.status, 200, JSON.stringify(set.body));

    const answers = new Map<string, { status: number; body: any; headers: Record<string, unknown> }>();
    for (const [method, path, body] of families(location)) {
      const answer = await localRequest(server.socketPath, method, path, body);
      assert.ok(answer.status >= 200 && answer.status < 300, `${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
      answers.set(`${method} ${path}`, answer);
    }
    const at = (key: string) => answers.get(key)!;
    assert.equal(at('GET /v1/distributions/@default').body.id, second.id, 'GET is the default');
    assert.equal(at('PATCH /v1/distributions/@default').body.id, second.id, 'PATCH configured the default');
    assert.equal(at('POST /v1/distributions/@default/run').body.stdout, 'default\nsecond\n', 'run ran in the default');
    assert.equal(at('POST /v1/distributions/@default/processes').body.distributionId, second.id, 'the process is the default’s');
    assert.deepEqual(
      at('GET /v1/distributions/@default/processes').body.processes.map((p: { distributionId: string }) => p.distributionId),
      [second.id, second.id],
      'the default’s processes',
    );
    assert.equal(at('POST /v1/distributions/@default/instance').body.distributionId, second.id, 'the default started');
    assert.equal(at('GET /v1/distributions/@default/instance').status, 200, 'the default’s instance runs');
    assert.equal(at('DELETE /v1/distributions/@default/instance').status, 204);
    assert.match(String(at('GET /v1/distributions/@default/export').headers['content-disposition']), /filename="second\.tar"/);
    assert.equal(at('POST /v1/distributions/@default/move').body.basePath, location, 'the default moved');
    assert.equal(at('DELETE /v1/distributions/@default').status, 204, 'the default unregistered');

    const left = await localRequest(server.socketPath, 'GET', '/v1/distributions');
    assert.deepEqual(left.body.distributions.map((d: { name: string }) => d.name), ['first'], 'only the default went');
    const heir = await localRequest(server.socketPath, 'GET', '/v1/distributions/@default');
    assert.equal(heir.body.id, first.id, '@default follows the default to its heir');
  });

  it('can never be a distribution’s name', async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    const server = await startServer(t);
    const root = await ensureUser('root');
    const tar = await archive(t, await busyboxRootfsTar());
    const imported = await curlLocalAs(root, server.socketPath, 'POST', '/v1/distributions?name=@default', undefined, {
      upload: { file: tar, contentType: 'application/x-tar' },
    });
    assert.equal(imported.status, 400, JSON.stringify(imported.json));
    await importAs(root, server.socketPath, 'bb', tar);
    const renamed = await localRequest(server.socketPath, 'PATCH', '/v1/distributions/bb', { name: '@default' });
    assert.equal(renamed.status, 400, JSON.stringify(renamed.body));
  });
});
