// Honest process state under hostile programs: a program that exits while a background child holds its output
// is `exited` at once; a `run` answers by its deadline even when the distribution's /init is stopped; a VM
// whose holder is killed from the host takes its instances and processes with it, and every view agrees.

import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { LxssEvent } from '../../src/core/events.js';
import { usersWithBusybox } from '../helpers/distros.js';
import { eventually } from '../helpers/eventually.js';
import { localRequest } from '../helpers/local-client.js';
import { attach, tokenOf } from '../helpers/process-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { isRoot } from '../helpers/users.js';

const ROOT_SID = 'S-1-22-1-0';

/** A host process that exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

function recordEvents(t: TestContext, server: TestServer): LxssEvent[] {
  const events: LxssEvent[] = [];
  t.after(server.app.lxss.sessions.forSid(ROOT_SID).events.subscribe((event) => events.push(event)));
  return events;
}

describe('process state with a background child holding the output', () => {
  // Without the fix each of these waits for the background `sleep 100`: the test timeout makes that a failure.
  it('is exited with the program’s code at once, refuses signals with 409, and run answers with timedOut false', { timeout: 120_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces');
    const server = await startServer(t);
    await usersWithBusybox(t, server.socketPath, 'root');
    const events = recordEvents(t, server);
    const argv = ['sh', '-c', 'sleep 100 & echo hi'];

    const created = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/processes', { argv });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id as string;
    const view = await eventually(
      async () => {
        const current = (await localRequest(server.socketPath, 'GET', `/v1/processes/${id}`)).body;
        assert.equal(current.state, 'exited', 'the shell exited; its child still holds stdout');
        return current;
      },
      { timeoutMs: 10_000, what: 'the process to be exited' },
    );
    assert.deepEqual([view.exitCode, view.signal], [0, null], 'the shell’s own exit status');
    assert.ok(events.some((event) => event.type === 'process-exited' && event.processId === id), 'process-exited was emitted');
    for (const attempt of ['first', 'second']) {
      const signalled = await localRequest(server.socketPath, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGTERM' });
      assert.deepEqual([signalled.status, signalled.body.code], [409, 'E_ILLEGAL_STATE_CHANGE'], `${attempt} signal after the exit`);
    }
    const ps = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/run', { argv: ['sh', '-c', 'cat /proc/[0-9]*/comm'] });
    assert.match(ps.body.stdout, /^sleep$/m, 'the background child still runs (the test proves what it claims)');

    // A late attach gets the output and the exit status, then a normal close: the child does not hold it open.
    const stdio = await attach(server, await tokenOf(server), id);
    assert.deepEqual(await stdio.closed, { code: 1000, reason: 'exited' });
    assert.equal(stdio.text(1), 'hi\n');
    assert.deepEqual(JSON.parse(stdio.frames.at(-1)!.data.toString()), { exitCode: 0, signal: null }, 'the exit frame comes last');

    const run = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/run', { argv, timeoutMs: 600_000 });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.deepEqual(
      [run.body.stdout, run.body.exitCode, run.body.signal, run.body.timedOut, run.body.error],
      ['hi\n', 0, null, false, null],
      'run answers at the exit (plus the drain), not at its timeout',
    );
  });
});

describe('run deadline when /init does not answer', () => {
  it('answers by the deadline while /init is SIGSTOPped, and refuses a launch it cannot make with 504', { timeout: 120_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces');
    const server = await startServer(t);
    await usersWithBusybox(t, server.socketPath, 'root');
    const started = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/instance');
    assert.ok([200, 201].includes(started.status), JSON.stringify(started.body));
    const initPid = started.body.pid as number;
    const resume = () => {
      try {
        process.kill(initPid, 'SIGCONT');
      } catch {
        // gone already
      }
    };
    t.after(resume);

    // The process runs; then its /init is stopped: the kill at the deadline cannot go through it.
    const answer = localRequest(server.socketPath, 'POST', '/v1/distributions/bb/run', { argv: ['sleep', '1000'], timeoutMs: 1500 });
    const sleeper = await eventually(async () => {
      const listed = (await localRequest(server.socketPath, 'GET', '/v1/processes')).body.processes;
      const found = listed.find((p: { argv: string[]; state: string }) => p.argv[0] === 'sleep' && p.state === 'running');
      assert.ok(found, 'the sleep is running');
      return found as { id: string };
    });
    process.kill(initPid, 'SIGSTOP');
    const stopped = await answer;
    assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
    assert.equal(stopped.body.id, sleeper.id);
    assert.equal(stopped.body.timedOut, true, 'the deadline came');
    assert.match(stopped.body.error, /did not confirm the kill/, 'the answer says the kill is unconfirmed');

    // With /init still stopped, a new run cannot even be launched: a 504 by its deadline, not a hang.
    const refused = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/run', { argv: ['true'], timeoutMs: 1000 });
    assert.deepEqual([refused.status, refused.body.code], [504, 'LXSSD_E_TIMEOUT'], JSON.stringify(refused.body));

    // Once /init runs again the kill goes through; the launch nobody waits for any more is killed too.
    resume();
    await eventually(
      async () => {
        const listed = (await localRequest(server.socketPath, 'GET', '/v1/processes')).body.processes;
        assert.ok(listed.length >= 1, 'the processes are listed');
        for (const each of listed) assert.equal(each.state, 'exited', `${each.argv.join(' ')} ended`);
        assert.deepEqual(listed.find((p: { id: string }) => p.id === sleeper.id)?.exitCode, 137, 'the sleep was killed');
      },
      { timeoutMs: 10_000, what: 'every process to be exited' },
    );
    const after = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/run', { argv: ['echo', 'back'] });
    assert.deepEqual([after.status, after.body.stdout], [200, 'back\n'], 'the distribution works again');
  });
});

describe('a VM whose holder process dies', () => {
  it('takes its instances and processes with it, and the VM, instance and process views agree', { timeout: 120_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces');
    const server = await startServer(t);
    await usersWithBusybox(t, server.socketPath, 'root');
    const events = recordEvents(t, server);
    const sleeper = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/processes', { argv: ['sleep', '1000'] });
    assert.equal(sleeper.status, 201, JSON.stringify(sleeper.body));
    const vm = (await localRequest(server.socketPath, 'GET', '/v1/vm')).body;
    assert.equal(vm.state, 'Running');
    assert.equal(vm.instances.length, 1);
    const initPid = vm.instances[0].pid as number;

    process.kill(vm.pid, 'SIGKILL');

    await eventually(
      async () => {
        const now = (await localRequest(server.socketPath, 'GET', '/v1/vm')).body;
        assert.deepEqual([now.state, now.instances], ['Stopped', []], 'the VM and its instances are gone');
      },
      { timeoutMs: 10_000, what: 'the VM to be reported stopped' },
    );
    const instance = await localRequest(server.socketPath, 'GET', '/v1/distributions/bb/instance');
    assert.deepEqual([instance.status, instance.body.code], [404, 'LXSSD_E_NOT_RUNNING'], 'the instance view agrees');
    const ended = await eventually(async () => {
      const current = (await localRequest(server.socketPath, 'GET', `/v1/processes/${sleeper.body.id}`)).body;
      assert.equal(current.state, 'exited');
      return current;
    });
    assert.deepEqual([ended.exitCode, ended.signal], [137, 9], 'the process view agrees: killed');
    await eventually(() => assert.ok(!alive(initPid), `the instance’s PID 1 (${initPid}) is gone from the host`));
    const types = events.map((event) => event.type);
    for (const type of ['process-exited', 'instance-stopped', 'vm-stopped'] as const) assert.ok(types.includes(type), `${type} was emitted`);
    const stopped = events.find((event) => event.type === 'instance-stopped');
    assert.equal(stopped?.type === 'instance-stopped' && stopped.reason, 'crashed');
    assert.ok(types.indexOf('instance-stopped') < types.indexOf('vm-stopped'), 'the instance stopped before the VM was reported stopped');

    const again = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/run', { argv: ['echo', 'again'] });
    assert.deepEqual([again.status, again.body.stdout], [200, 'again\n'], 'a new VM boots for the next request');
  });
});
