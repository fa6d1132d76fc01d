// lxssd installed like a tool: scripts/link-bins.sh (what scripts/setup.sh runs) puts the package's commands
// on the PATH as symlinks into the checkout, so a user who does not own the checkout runs `lxssd token` by
// name (npx fails there); every command answers --help; contrib/lxssd.service is a unit systemd accepts.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { lstat, readFile, readlink, realpath, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { lxssd } from '../helpers/binary.js';
import { sharedTempDir, startServer } from '../helpers/server.js';
import { ensureUser, isRoot, runAs } from '../helpers/users.js';

const run = promisify(execFile);
const checkout = join(dirname(lxssd), '..');
const linkBins = join(checkout, 'scripts', 'link-bins.sh');
const unitFile = join(checkout, 'contrib', 'lxssd.service');

async function binDir(t: import('node:test').TestContext): Promise<string> {
  const dir = await sharedTempDir('lxssd-bin-');
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('lxssd on the PATH', () => {
  it('links every command of package.json into a bin folder, replacing its own links and nothing else', async (t) => {
    const dir = await binDir(t);
    const { bin } = JSON.parse(await readFile(join(checkout, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    await writeFile(join(dir, 'other'), 'not ours\n');
    for (const round of [1, 2]) {
      await run('bash', [linkBins, dir], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir } });
      for (const [name, path] of Object.entries(bin)) {
        assert.ok((await lstat(join(dir, name))).isSymbolicLink(), `${name} is a symlink (round ${round})`);
        assert.equal(await readlink(join(dir, name)), await realpath(join(checkout, path)), `${name} points into the checkout`);
      }
    }
    const { stdout } = await run(join(dir, 'lxssd'), ['--version']);
    assert.match(stdout, /^\d+\.\d+\.\d+/, 'the link runs lxssd');

    // A file of the same name that is not a symlink is left alone.
    const blocked = await binDir(t);
    await writeFile(join(blocked, 'lxssd'), '#!/bin/sh\necho mine\n', { mode: 0o755 });
    const result = await run('bash', [linkBins, blocked]);
    assert.match(result.stderr, /exists and is not a symlink; left alone/);
    assert.equal(await readFile(join(blocked, 'lxssd'), 'utf8'), '#!/bin/sh\necho mine\n');
    assert.equal(await readFile(join(dir, 'other'), 'utf8'), 'not ours\n');
  });

  it('lets a non-root user mint their own token with a plain `lxssd token` in a root-owned checkout', async (t) => {
    if (!isRoot) return t.skip('needs root to create a test user');
    const user = await ensureUser('lxssdtool');
    const server = await startServer(t);
    const dir = await binDir(t);
    await run('bash', [linkBins, dir]);
    // The user's PATH: the bin folder, node's folder (the link's #!/usr/bin/env node), the system's.
    const path = [dir, dirname(process.execPath), '/usr/bin', '/bin'].join(':');
    const env = ['env', `PATH=${path}`, `LXSSD_SOCKET=${server.socketPath}`];

    const minted = await runAs(user, [...env, 'lxssd', 'token', '--label', 'from the PATH']);
    assert.equal(minted.code, 0, minted.stderr);
    const token = minted.stdout.trim();
    assert.match(token, /^lxss_/);
    const session = await fetch(`${server.url}/v1/session`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(session.status, 200);
    assert.equal(((await session.json()) as { sid: string }).sid, `S-1-22-1-${user.uid}`, "the token is the user's own");

    for (const command of ['serve', 'token', 'openapi']) {
      const help = await runAs(user, [...env, 'lxssd', command, '--help']);
      assert.equal(help.code, 0, `lxssd ${command} --help as ${user.name}: ${help.stderr}`);
      assert.match(help.stdout, new RegExp(`^usage: lxssd (\\[serve\\]|${command})`), `lxssd ${command} --help`);
    }
  });
});

describe('lxssd --help', () => {
  it('prints each command\'s usage on stdout and exits 0', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--help'], /^usage:\n {2}lxssd \[serve\][\s\S]*lxssd token[\s\S]*lxssd openapi/],
      [['-h'], /^usage:\n/],
      [['serve', '--help'], /^usage: lxssd \[serve\] [\s\S]*--listen HOST:PORT[\s\S]*--state-dir DIR/],
      [['serve', '-h'], /^usage: lxssd \[serve\] /],
      // Help wins over everything else on the line: nothing is served, nothing is checked.
      [['--listen', '0.0.0.0:1', '--help'], /^usage: lxssd \[serve\] /],
      [['token', '--help'], /^usage: lxssd token [\s\S]*--expires-in SECONDS/],
      [['openapi', '--help'], /^usage: lxssd openapi [\s\S]*--out FILE/],
      [['help', 'token'], /^usage: lxssd token /],
    ];
    for (const [args, usage] of cases) {
      const { stdout, stderr } = await run(process.execPath, [lxssd, ...args]);
      assert.match(stdout, usage, `lxssd ${args.join(' ')}`);
      assert.equal(stderr, '', `lxssd ${args.join(' ')}: nothing on stderr`);
    }
    await assert.rejects(run(process.execPath, [lxssd, 'help', 'nothing']), (error: { code?: number; stderr?: string }) => {
      assert.equal(error.code, 2);
      assert.match(error.stderr ?? '', /unknown command "nothing"/);
      return true;
    });
  });
});

describe('contrib/lxssd.service', () => {
  it('is a unit systemd accepts, running the installed lxssd, restarted on failure, without namespace-breaking sandboxing', async (t) => {
    const unit = await readFile(unitFile, 'utf8');
    const settings = new Map<string, string>();
    for (const line of unit.split('\n')) {
      const match = /^([A-Za-z]+)=(.*)$/.exec(line);
      if (match) settings.set(match[1]!, match[2]!);
    }
    assert.equal(settings.get('ExecStart'), '/usr/local/bin/lxssd serve', 'runs what setup.sh installs');
    assert.equal(settings.get('Restart'), 'on-failure');
    assert.equal(settings.get('KillMode'), 'mixed', 'SIGTERM to lxssd alone: it stops its instances itself');
    assert.equal(settings.get('Delegate'), 'yes', 'the VMs’ cgroups live below the service’s');
    // Each of these is inherited by every distribution's processes or hides what an instance mounts.
    for (const breaking of [
      'NoNewPrivileges', 'RestrictSUIDSGID', 'ProtectKernelTunables', 'ProtectKernelLogs', 'ProtectProc', 'ProtectHostname',
      'PrivateDevices', 'PrivateTmp', 'ProtectHome', 'SystemCallFilter', 'RestrictAddressFamilies', 'RestrictNamespaces',
      'MemoryDenyWriteExecute', 'PrivateUsers',
    ]) {
      assert.ok(!settings.has(breaking) || settings.get(breaking) === 'no', `${breaking} would break distributions`);
    }
    assert.notEqual(settings.get('ProtectSystem'), 'full', '/etc/subuid must stay writable');
    assert.notEqual(settings.get('ProtectSystem'), 'strict');

    const analyze = await run('sh', ['-c', 'command -v systemd-analyze']).catch(() => undefined);
    if (!analyze) return t.skip('systemd-analyze is not installed');
    // Verified as installed: ExecStart pointing at a linked lxssd (here in a folder of the test's own).
    const dir = await binDir(t);
    await run('bash', [linkBins, dir]);
    const copy = join(dir, 'lxssd.service');
    await writeFile(copy, unit.replaceAll('/usr/local/bin/lxssd', join(dir, 'lxssd')));
    const verified = await run('systemd-analyze', ['verify', copy]).catch((error: { stderr?: string; code?: number }) => error);
    assert.equal((verified as { code?: number }).code ?? 0, 0, (verified as { stderr?: string }).stderr);
    assert.equal((verified as { stderr?: string }).stderr ?? '', '', 'systemd-analyze has no complaint');
  });
});
