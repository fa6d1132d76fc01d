// The `lxssd` binary as an operator runs it: refusing bad binds, serving, minting tokens, closing on SIGTERM.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { access, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import request from 'supertest';
import { lxssd, serve } from '../helpers/binary.js';
import { sharedTempDir } from '../helpers/server.js';

const run = promisify(execFile);

async function exitOf(child: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // 'close', not 'exit': the process can be gone before its stderr has been read to the end.
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stderr };
}

describe('lxssd serve', () => {
  it('exits non-zero with a clear message for a non-loopback address, from a flag or the config file [S1]', async (t) => {
    const dir = await sharedTempDir('lxssd-cli-');
    t.after(() => rm(dir, { recursive: true, force: true }));
    const common = ['--state-dir', join(dir, 'state'), '--socket', join(dir, 'lxssd.sock')];

    const byFlag = spawn(process.execPath, [lxssd, 'serve', '--listen', '0.0.0.0:7071', ...common]);
    const flagResult = await exitOf(byFlag);
    assert.notEqual(flagResult.code, 0);
    assert.match(flagResult.stderr, /refusing to listen on 0\.0\.0\.0: lxssd listens on loopback only/);

    const configFile = join(dir, 'lxssd.conf');
    await writeFile(configFile, '[lxssd]\nlisten = 0.0.0.0:7071\n');
    const byFile = spawn(process.execPath, [lxssd, '--config', configFile, ...common]);
    const fileResult = await exitOf(byFile);
    assert.notEqual(fileResult.code, 0);
    assert.match(fileResult.stderr, /loopback only/);
  });

  it('refuses a second service on the same state directory, and claims it at once after a SIGKILL [R2]', async (t) => {
    const dir = await sharedTempDir('lxssd-cli-');
    t.after(() => rm(dir, { recursive: true, force: true }));
    const stateDir = join(dir, 'state');
    const first = await serve(['--listen', '127.0.0.1:0', '--socket', join(dir, 'one.sock'), '--state-dir', stateDir]);
    t.after(() => first.child.kill('SIGKILL'));

    const second = spawn(process.execPath, [lxssd, 'serve', '--listen', '127.0.0.1:0', '--socket', join(dir, 'two.sock'), '--state-dir', stateDir]);
    t.after(() => second.kill('SIGKILL'));
    // Should it start after all, the test fails instead of waiting on a service that never exits.
    const started = new Promise<{ code: string; stderr: string }>((resolve) =>
      second.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('lxssd ready') && resolve({ code: 'started', stderr: '' })),
    );
    const refused = await Promise.race([exitOf(second), started]);
    assert.notEqual(refused.code, 'started', 'a second service started on the same state directory');
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, new RegExp(`another lxssd \\(pid ${first.child.pid}\\) is using the state directory ${stateDir}`));

    const killed = once(first.child, 'exit');
    first.child.kill('SIGKILL');
    await killed;
    const third = await serve(['--listen', '127.0.0.1:0', '--socket', join(dir, 'three.sock'), '--state-dir', stateDir]);
    t.after(() => third.child.kill('SIGKILL'));
    assert.equal((await request(third.url).get('/v1/version')).status, 200, 'the claim died with the killed service');
  });

  it('serves TCP and the local socket, mints a token with `lxssd token`, and closes cleanly on SIGTERM [R4]', async (t) => {
    const dir = await sharedTempDir('lxssd-cli-');
    t.after(() => rm(dir, { recursive: true, force: true }));
    const socketPath = join(dir, 'run', 'lxssd.sock');
    const { child, url } = await serve(['--listen', '127.0.0.1:0', '--socket', socketPath, '--state-dir', join(dir, 'state')]);
    t.after(() => child.kill('SIGKILL'));

    const { stdout } = await run(process.execPath, [lxssd, 'token', '--socket', socketPath, '--label', 'cli test']);
    const token = stdout.trim();
    assert.match(token, /^lxss_/);
    const session = await request(url).get('/v1/session').set('authorization', `Bearer ${token}`);
    assert.equal(session.status, 200);
    assert.equal(session.body.sid, `S-1-22-1-${process.getuid!()}`);

    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0, 'exit code after SIGTERM');
    await assert.rejects(access(socketPath), 'the socket file is removed');
  });

  it('`lxssd token` explains when no service answers', async (t) => {
    const dir = await sharedTempDir('lxssd-cli-');
    t.after(() => rm(dir, { recursive: true, force: true }));
    const child = spawn(process.execPath, [lxssd, 'token', '--socket', join(dir, 'none.sock')]);
    const result = await exitOf(child);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /no lxssd answers on .*none\.sock/);
  });
});
