// What bounds a user's processes: the maxProcesses limit (running ones refused past it, exited ones giving
// way), and a service out of file descriptors answering 503 without leaking the ones it had made.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { limitLeaving } from '../helpers/proc.js';
import { serve } from '../helpers/binary.js';
import { usersWithBusybox } from '../helpers/distros.js';
import { eventually } from '../helpers/eventually.js';
import { localRequest } from '../helpers/local-client.js';
import { sharedTempDir, startServer } from '../helpers/server.js';
import { isRoot } from '../helpers/users.js';

const run = promisify(execFile);

describe('process limits', () => {
  it('refuses a process past maxProcesses running with 409, and lets exited ones give way, oldest first', async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces');
    const server = await startServer(t, { maxProcesses: 3 });
    await usersWithBusybox(t, server.socketPath, 'root');
    const create = (argv: string[]) => localRequest(server.socketPath, 'POST', '/v1/distributions/bb/processes', { argv });
    const stateOf = async (id: string) => (await localRequest(server.socketPath, 'GET', `/v1/processes/${id}`)).body.state;

    const sleepers = [];
    for (let i = 0; i < 3; i++) {
      const sleeper = await create(['sleep', '1000']);
      assert.equal(sleeper.status, 201);
      sleepers.push(sleeper.body.id as string);
    }
    const refused = await create(['sleep', '1000']);
    assert.deepEqual([refused.status, refused.body.code], [409, 'LXSSD_E_PROCESS_LIMIT']);
    const refusedRun = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/run', { argv: ['true'] });
    assert.equal(refusedRun.status, 409, 'run counts too');
    assert.equal((await localRequest(server.socketPath, 'GET', '/v1/processes')).body.processes.length, 3, 'nothing was added');

    assert.equal((await localRequest(server.socketPath, 'DELETE', `/v1/processes/${sleepers[0]}`)).status, 204);
    const first = await create(['true']);
    assert.equal(first.status, 201, 'room again once one is gone');
    await eventually(async () => assert.equal(await stateOf(first.body.id), 'exited'));
    const second = await create(['true']);
    assert.equal(second.status, 201, 'an exited process does not count as running');
    const listed = (await localRequest(server.socketPath, 'GET', '/v1/processes')).body.processes.map((p: { id: string }) => p.id);
    assert.deepEqual(new Set(listed), new Set([sleepers[1], sleepers[2], second.body.id]), 'the oldest exited one gave way');
  });

  it('answers 503 when the service is out of descriptors, leaks none, and recovers', { timeout: 120_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces and prlimit');
    const dir = await sharedTempDir('lxssd-limits-');
    t.after(() => rm(dir, { recursive: true, force: true }));
    const socketPath = join(dir, 'run', 'lxssd.sock');
    const { child } = await serve(['--listen', '127.0.0.1:0', '--socket', socketPath, '--state-dir', join(dir, 'state')]);
    t.after(async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    });
    await usersWithBusybox(t, socketPath, 'root');
    const create = () => localRequest(socketPath, 'POST', '/v1/distributions/bb/processes', { argv: ['sleep', '1000'] });
    assert.equal((await create()).status, 201, 'the instance runs and the user is known before the limit comes down');
    const openFds = async () => (await readdir(`/proc/${child.pid}/fd`)).map(Number);
    // Only the soft limit moves: raising a hard limit again may need a capability a container lacks.
    const setLimit = (files: number | string) => run('prlimit', [`--pid=${child.pid}`, `--nofile=${files}:`]);
    const { stdout: hard } = await run('prlimit', [`--pid=${child.pid}`, '--nofile', '--output=HARD', '--noheadings']);
    t.after(() => setLimit(hard.trim()).catch(() => undefined));

    // A launch makes three socket pairs: with room for none, one or two of them, it fails at the first, second
    // or third, and each time gives back what it had made.
    for (const room of [1, 3, 5]) {
      const before = await openFds();
      await setLimit(limitLeaving(before, room));
      const answer = await create();
      assert.deepEqual([answer.status, answer.body.code], [503, 'LXSSD_E_OUT_OF_RESOURCES'], `room for ${room}: ${JSON.stringify(answer.body)}`);
      assert.match(answer.body.detail, /EMFILE/);
      await eventually(async () => assert.equal((await openFds()).length, before.length, `room for ${room}: nothing leaked`));
    }

    // A terminal's master comes from the instance's init over its channel: with no room for it, that one launch
    // fails and its process is killed, while the channel, the instance and its other processes carry on.
    const before = await openFds();
    await setLimit(limitLeaving(before, 0));
    const tty = await localRequest(socketPath, 'POST', '/v1/distributions/bb/processes', { argv: ['sleep', '999'], tty: { cols: 80, rows: 24 } });
    assert.deepEqual([tty.status, tty.body.code], [503, 'LXSSD_E_OUT_OF_RESOURCES'], JSON.stringify(tty.body));

    await setLimit(hard.trim());
    assert.equal((await create()).status, 201, 'with descriptors again, processes start again');
    const processes = (await localRequest(socketPath, 'GET', '/v1/processes')).body.processes as Array<{ state: string }>;
    assert.ok(processes.length > 1 && processes.every((p) => p.state === 'running'), 'the instance kept its processes');
    await eventually(async () => {
      const ps = await localRequest(socketPath, 'POST', '/v1/distributions/bb/run', { argv: ['ps'] });
      assert.doesNotMatch(ps.body.stdout, /sleep 999/, 'the terminal process nobody could reach was killed');
    });
    assert.equal((await localRequest(socketPath, 'GET', '/v1/session')).status, 200, 'the service carried on throughout');
  });
});
