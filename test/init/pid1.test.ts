// lxssd-init as PID 1 of a new PID namespace, as in an instance (here made by `unshare --pid --fork`; the real
// instance setup lives elsewhere). Only what differs from the subreaper case: its pid is 1, orphans reach it by
// the kernel's rules for a namespace's init, and TERMINATE uses kill(-1) to reach every process of the namespace.

import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { InitChannel, initPath, type ExitStatus } from '../../src/hv/linux/init-channel.js';
import { eventually } from '../helpers/eventually.js';
import { childrenOf, launchDetached, needsRoot, PATH_ENV, run, stopInit } from './harness.js';

/** init as PID 1; returns the channel and init's pid as the host sees it. */
async function startPid1(t: TestContext): Promise<{ channel: InitChannel; hostPid: number }> {
  const child = spawn('unshare', ['--pid', '--fork', '--kill-child', '--', initPath()], {
    stdio: ['ignore', 'inherit', 'pipe', 'pipe', 'pipe'],
    env: { PATH: PATH_ENV.PATH },
  });
  const channel = new InitChannel(child);
  child.stderr?.resume();
  t.after(() => stopInit(child, channel));
  const { pid } = await channel.hello();
  assert.equal(pid, 1, 'init is PID 1 of its namespace');
  const children = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ');
  assert.equal(children.length, 1, 'unshare --fork has exactly one child: init');
  return { channel, hostPid: Number(children[0]) };
}

describe('lxssd-init as PID 1 of a PID namespace', () => {
  it('launches with namespace pids and reaps orphans', async (t) => {
    if (needsRoot(t)) return;
    const { channel, hostPid } = await startPid1(t);
    const result = await run(channel, {
      argv: ['/bin/sh', '-c', 'echo $$; for i in $(seq 20); do sleep 0.3 </dev/null >/dev/null 2>&1 & done'],
      env: PATH_ENV,
    });
    assert.equal(result.stdout, `${result.pid}\n`);
    assert.ok(result.pid > 1 && result.pid < 100, `a small namespace pid, got ${result.pid}`);
    await eventually(() => assert.deepEqual(childrenOf(hostPid), []), { what: 'orphans reaped by PID 1', timeoutMs: 10_000 });
  });

  it('TERMINATE reaches every process of the namespace (kill -1), even ones in other sessions [R3]', async (t) => {
    if (needsRoot(t)) return;
    const { channel, hostPid } = await startPid1(t);
    const exits: ExitStatus[] = [];
    const sleeper = await launchDetached(channel, { argv: ['/bin/sleep', '1000'] });
    // A daemon in its own session whose parent is still alive: no process group of ours holds it.
    const daemonParent = await launchDetached(channel, { argv: ['/bin/sh', '-c', 'setsid sleep 1000 </dev/null >/dev/null 2>&1 & wait'], env: PATH_ENV });
    for (const launch of [sleeper, daemonParent]) void launch.exit.then((status) => exits.push(status));
    await eventually(() => assert.ok(childrenOf(hostPid).length >= 2), { what: 'both launches running' });
    const started = Date.now();
    await channel.terminate();
    // Had SIGTERM missed the daemon, init would have waited out its 500 ms grace before SIGKILL.
    assert.ok(Date.now() - started < 450, `TERMINATE took ${Date.now() - started} ms: SIGTERM did not reach everything`);
    assert.deepEqual((await sleeper.exit).signal, 15);
    assert.equal(exits.length, 2, 'an EXITED for each launch, before TERMINATED');
    assert.equal((await channel.exited).code, 0);
  });

  it('takes SIGTERM from outside its namespace as TERMINATE (blocked + signalfd, so PID 1 is not shielded)', async (t) => {
    if (needsRoot(t)) return;
    const { channel, hostPid } = await startPid1(t);
    const sleeper = await launchDetached(channel, { argv: ['/bin/sleep', '1000'] });
    const terminated = new Promise<void>((resolve) => channel.once('terminated', resolve));
    process.kill(hostPid, 'SIGTERM');
    assert.equal((await sleeper.exit).signal, 15);
    await terminated;
    assert.equal((await channel.exited).code, 0);
  });
});
