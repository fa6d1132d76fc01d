// `lxss` in a real terminal (tmux, driven with send-keys and read with capture-pane): a login shell with a
// prompt, a pty of the window's size that follows the window, Ctrl-C reaching the process and not lxss, the
// shell's exit code as lxss's, and the terminal as it was before once lxss is done.

import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually } from '../helpers/eventually.js';
import { lxss, lxssBin } from '../helpers/lxss-cli.js';
import { busyboxRootfsTar } from '../helpers/rootfs.js';
import { sharedTempDir, startServer } from '../helpers/server.js';
import { isRoot } from '../helpers/users.js';

const exec = promisify(execFile);
const hasTmux = await exec('sh', ['-c', 'command -v tmux']).then(() => true, () => false);

/** A tmux server of the test's own (its own socket), with one window running a plain bash. */
async function terminal(t: TestContext, env: Record<string, string>, size: { cols: number; rows: number }) {
  const socket = `lxss-test-${randomUUID()}`;
  const tmux = (...args: string[]) => exec('tmux', ['-L', socket, '-f', '/dev/null', ...args]);
  const environment = Object.entries({ ...env, PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm-256color', PS1: 'host$ ' })
    .map(([key, value]) => `${key}=${value}`);
  await tmux('new-session', '-d', '-x', String(size.cols), '-y', String(size.rows), 'env', '-i', ...environment, 'bash', '--norc', '--noprofile');
  t.after(() => tmux('kill-server').catch(() => undefined));
  const screen = async () => (await tmux('capture-pane', '-p', '-J')).stdout;
  const type = async (text: string) => {
    await tmux('send-keys', '-l', text);
    await tmux('send-keys', 'Enter');
  };
  const waitFor = (pattern: RegExp, what: string) =>
    eventually(async () => {
      const shown = await screen();
      assert.match(shown, pattern);
      return shown;
    }, { timeoutMs: 20_000, intervalMs: 50, what: `${what} (screen: ${JSON.stringify(pattern)})` });
  return { tmux, type, waitFor, screen };
}

describe('lxss in a terminal', { skip: (!isRoot && 'needs root for namespaces') || (!hasTmux && 'needs tmux (scripts/setup.sh installs it)') }, () => {
  it('gives a login shell in a pty that follows the window, passes Ctrl-C on, exits with the shell’s code and leaves the terminal sane', { timeout: 180_000 }, async (t) => {
    const server = await startServer(t);
    const dir = await sharedTempDir('lxss-tty-');
    t.after(() => rm(dir, { recursive: true, force: true }));
    const env = { LXSS_SOCKET: server.socketPath, HOME: dir };
    assert.equal((await lxss(['--import', 'deb', join(dir, 'deb'), await busyboxRootfsTar()], env)).code, 0);

    const term = await terminal(t, env, { cols: 100, rows: 30 });
    await term.waitFor(/host\$ $/m, 'the host shell');
    const before = join(dir, 'stty-before');
    const after = join(dir, 'stty-after');
    await term.type(`stty -a > ${before}; node ${lxssBin} -d deb; echo "lxss=$?"; stty -a > ${after}`);
    await term.waitFor(/^~ # $/m, 'the distribution’s prompt (a login shell in the home)');

    await term.type('stty size');
    await term.waitFor(/^30 100$/m, 'the pty has the window’s size');
    await term.tmux('resize-window', '-x', '120', '-y', '40');
    await eventually(async () => {
      await term.type('stty size');
      await term.waitFor(/^40 120$/m, 'the pty follows the window');
    }, { timeoutMs: 20_000, what: 'the resize' });

    await term.type('sleep 100');
    await eventually(async () => {
      const { stdout } = await exec('pgrep', ['-x', 'sleep', '-a']).catch(() => ({ stdout: '' }));
      assert.match(stdout, /sleep 100/);
    }, { timeoutMs: 20_000, what: 'sleep 100 running' });
    // Were Ctrl-C lost, sleep would hold the shell for 100 s and the echo below would not run in time.
    await term.tmux('send-keys', 'C-c');
    await term.type('echo "still $((40 + 2))"');
    await term.waitFor(/^still 42$/m, 'Ctrl-C interrupted sleep, and the shell carries on');

    await term.type('exit 5');
    await term.waitFor(/^lxss=5$/m, 'lxss exits with the shell’s code');
    await term.waitFor(/host\$ $/m, 'back at the host shell');
    const [was, is] = await Promise.all([readFile(before, 'utf8'), readFile(after, 'utf8')]);
    // The window was resized on purpose; everything else (modes, control characters) must be as it was.
    const settings = (text: string) => text.replace(/rows \d+; columns \d+;/, '');
    assert.equal(settings(is), settings(was), 'the terminal is as lxss found it');
  });
});
