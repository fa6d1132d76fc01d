// [S10] for processes and memory: each user's VM is a cgroup of its own with maxPids and WSL's memory limit, so a
// fork bomb or a runaway allocation in one user's distribution stops at that user's limit, visibly (counts in
// GET /v1/vm, a vm-limit-reached event), while the service, another user and the host carry on.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFile } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, rm, rmdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { serve } from '../helpers/binary.js';
import { usersWithBusybox } from '../helpers/distros.js';
import { eventually } from '../helpers/eventually.js';
import { localRequest } from '../helpers/local-client.js';
import { sharedTempDir, startServer } from '../helpers/server.js';
import { curlLocalAs, ensureUser, isRoot, runAs } from '../helpers/users.js';

const run = promisify(execFile);
const MIB = 1024 ** 2;
/** A VM's group: `lxssd-<12 hex of the state folder>/u<uid>`, below the service's own cgroup. */
const VM_GROUP = /\/lxssd-[0-9a-f]{12}\/u\d+$/;

/** `/proc/PID/cgroup` as controller list → path; undefined once the process is gone. */
async function cgroupsOf(pid: number): Promise<Map<string, string> | undefined> {
  const text = await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const groups = new Map<string, string>();
  for (const line of text.trim().split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (match) groups.set(match[1]!, match[2]!);
  }
  return groups;
}

/** The VM groups `pid` is in, keyed by hierarchy, with their host folders. */
async function vmGroupsOf(pid: number): Promise<Map<string, { path: string; folder: string }>> {
  const groups = new Map<string, { path: string; folder: string }>();
  for (const [controllers, path] of (await cgroupsOf(pid)) ?? []) {
    if (!VM_GROUP.test(path)) continue;
    const names = controllers.split(',');
    const folder =
      controllers === ''
        ? [`/sys/fs/cgroup/unified${path}`, `/sys/fs/cgroup${path}`].find((candidate) => existsSync(candidate))
        : names.includes('pids') || names.includes('memory')
          ? `/sys/fs/cgroup/${names.find((name) => name === 'pids' || name === 'memory')}${path}`
          : undefined;
    if (folder) groups.set(controllers, { path, folder });
  }
  return groups;
}

/** Host pids of every process in the PID namespace of `pid1`, and the parent (the helper) of `pid1`. */
async function instanceProcesses(pid1: number): Promise<number[]> {
  const namespace = await readlink(`/proc/${pid1}/ns/pid`);
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if ((await readlink(`/proc/${entry}/ns/pid`).catch(() => undefined)) === namespace) pids.push(Number(entry));
  }
  const status = await readFile(`/proc/${pid1}/status`, 'utf8');
  pids.push(Number(/^PPid:\s+(\d+)$/m.exec(status)![1]));
  return pids;
}

/** Whether this host has cgroup controllers a root service can use (v1 pids, or v2 with pids available). */
function hostCanConfine(): boolean {
  if (existsSync('/sys/fs/cgroup/pids/cgroup.procs')) return true;
  try {
    return readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').split(/\s+/).includes('pids');
  } catch {
    return false;
  }
}
const canConfine = hostCanConfine();

async function vmOf(socketPath: string): Promise<any> {
  const response = await localRequest(socketPath, 'GET', '/v1/vm');
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body;
}

async function eventsOf(socketPath: string): Promise<any[]> {
  const response = await localRequest(socketPath, 'GET', '/v1/events?since=0');
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body.events;
}

describe('VM limits [S10]', () => {
  it('stops a fork bomb at maxPids: the service, another user and the host carry on, and it is visible', { timeout: 180_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces and cgroups');
    if (!canConfine) return t.skip('this host has no cgroup controllers to confine a VM with');
    const server = await startServer(t, { maxPids: 64 });
    const [, other] = await usersWithBusybox(t, server.socketPath, 'root', 'bob');

    const bomb = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/processes', {
      argv: ['/bin/sh', '-c', 'f() { f | f & }; f; while :; do f; done'],
    });
    assert.equal(bomb.status, 201, JSON.stringify(bomb.body));
    const vm = await vmOf(server.socketPath);
    assert.equal(vm.resources.limited, true, `the VM is confined: ${vm.resources.warnings.join('; ')}`);

    const limited = await eventually(
      async () => {
        const now = (await vmOf(server.socketPath)).resources;
        assert.ok(now.processes.maxReached > 0, `the bomb reached the limit: ${JSON.stringify(now.processes)}`);
        return now;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: 'pids limit reached' },
    );
    assert.equal(limited.processes.max, 64);
    assert.ok(limited.processes.current <= 64, `never more than maxPids: ${limited.processes.current}`);
    await eventually(
      async () => {
        const reached = (await eventsOf(server.socketPath)).filter((event) => event.type === 'vm-limit-reached');
        assert.ok(reached.some((event) => event.resource === 'processes' && event.count > 0 && event.limit === 64), JSON.stringify(reached));
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'a vm-limit-reached event' },
    );

    // The service still answers, another user still starts processes in its own VM, the host still forks.
    assert.equal((await localRequest(server.socketPath, 'GET', '/v1/version')).status, 200);
    const echoed = await curlLocalAs(other, server.socketPath, 'POST', '/v1/distributions/bb/run', {
      argv: ['/bin/sh', '-c', 'for i in 1 2 3 4 5 6 7 8; do sleep 0 & done; wait; echo fine'],
    });
    assert.equal(echoed.status, 200, JSON.stringify(echoed.json));
    assert.deepEqual([(echoed.json as any).exitCode, (echoed.json as any).stdout], [0, 'fine\n']);
    const otherVm = (await curlLocalAs(other, server.socketPath, 'GET', '/v1/vm')).json as any;
    assert.equal(otherVm.resources.processes.maxReached, 0, "the other user's VM never hit its limit");
    assert.notEqual(otherVm.pid, vm.pid);
    assert.equal((await run('/bin/sh', ['-c', 'for i in 1 2 3 4 5 6 7 8; do /bin/true & done; wait; echo ok'])).stdout, 'ok\n');

    const groups = await vmGroupsOf(vm.pid);
    assert.ok(groups.size > 0, 'the holder is in a VM group');
    assert.equal((await localRequest(server.socketPath, 'POST', '/v1/shutdown')).status, 204);
    for (const { folder } of groups.values()) {
      await eventually(() => assert.ok(!existsSync(folder), `${folder} is removed after shutdown`), { timeoutMs: 10_000 });
    }
  });

  it('answers 503 LXSSD_E_OUT_OF_RESOURCES for a launch in a VM at maxPids, and launches again once it has room', { timeout: 120_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces and cgroups');
    if (!canConfine) return t.skip('this host has no cgroup controllers to confine a VM with');
    const server = await startServer(t, { maxPids: 32 });
    await usersWithBusybox(t, server.socketPath, 'root');
    // Sleepers that stay: the VM sits at its limit without churning.
    const filler = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/processes', {
      argv: ['/bin/sh', '-c', 'i=0; while [ $i -lt 64 ]; do sleep 1000 & i=$((i+1)); done 2>/dev/null; wait'],
    });
    assert.equal(filler.status, 201, JSON.stringify(filler.body));
    await eventually(
      async () => {
        const { processes } = (await vmOf(server.socketPath)).resources;
        assert.ok(processes.maxReached > 0, JSON.stringify(processes));
      },
      { timeoutMs: 30_000, what: 'the VM full' },
    );
    // The filler's shell may have exited at its failed fork and left a place or two: one sleeper per place.
    let refused;
    for (let attempt = 0; attempt < 5; attempt++) {
      refused = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/processes', { argv: ['sleep', '1000'] });
      if (refused.status !== 201) break;
    }
    assert.deepEqual([refused!.status, refused!.body.code], [503, 'LXSSD_E_OUT_OF_RESOURCES'], JSON.stringify(refused!.body));
    assert.match(refused!.body.detail, /maxPids/);
    assert.equal((await vmOf(server.socketPath)).resources.processes.current, 32);
    assert.equal((await localRequest(server.socketPath, 'GET', '/v1/version')).status, 200, 'the service is unharmed');

    assert.equal((await localRequest(server.socketPath, 'DELETE', '/v1/distributions/bb/instance')).status, 204);
    const again = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/run', { argv: ['echo', 'room'] });
    assert.deepEqual([again.status, again.body.stdout], [200, 'room\n'], JSON.stringify(again.body));
  });

  it('keeps every process of the VM in its cgroup: the holder, each helper, /init and what it starts', { timeout: 120_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces and cgroups');
    if (!canConfine) return t.skip('this host has no cgroup controllers to confine a VM with');
    const server = await startServer(t, { maxPids: 256, processors: 1 });
    await usersWithBusybox(t, server.socketPath, 'root');
    const started = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/processes', {
      argv: ['/bin/sh', '-c', 'sleep 1000 & (sleep 1000 &) ; sleep 1000; echo done'],
    });
    assert.equal(started.status, 201, JSON.stringify(started.body));
    const vm = await vmOf(server.socketPath);
    assert.equal(vm.resources.limited, true, `the VM is confined: ${vm.resources.warnings.join('; ')}`);
    const holderGroups = await vmGroupsOf(vm.pid);
    assert.ok(holderGroups.size > 0, 'the holder is in the VM group');
    const instancePid = vm.instances[0].pid as number;
    const pids = await eventually(
      async () => {
        const found = await instanceProcesses(instancePid);
        assert.ok(found.length >= 6, `init, sh, three sleeps and the helper: ${found.length}`);
        return found;
      },
      { what: 'the instance processes' },
    );
    for (const pid of [vm.pid, ...pids]) {
      const groups = await vmGroupsOf(pid);
      assert.deepEqual(
        [...groups].map(([key, group]) => [key, group.path]),
        [...holderGroups].map(([key, group]) => [key, group.path]),
        `pid ${pid} is in the VM's groups`,
      );
    }
    const [first] = holderGroups.values();
    const members = (await readFile(`${first!.folder}/cgroup.procs`, 'utf8')).trim().split('\n').map(Number);
    for (const pid of [vm.pid, ...pids]) assert.ok(members.includes(pid), `cgroup.procs lists ${pid}`);
    assert.ok(vm.resources.processes.current >= pids.length, JSON.stringify(vm.resources.processes));

    // Root inside cannot leave: the host's groups are not its own, whatever it mounts.
    const escape = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/run', {
      argv: [
        '/bin/sh',
        '-c',
        'for fs in "cgroup -o pids" "cgroup -o memory" cgroup2; do mkdir -p /tmp/cg && mount -t $fs none /tmp/cg 2>/dev/null; ' +
          'for f in /tmp/cg/cgroup.procs /sys/fs/cgroup/pids/cgroup.procs /sys/fs/cgroup/cgroup.procs; do ' +
          '[ -e $f ] && echo $$ 2>/dev/null > $f && echo "escaped via $f"; done; umount /tmp/cg 2>/dev/null; done; cat /proc/self/cgroup',
      ],
    });
    assert.equal(escape.status, 200, JSON.stringify(escape.body));
    assert.doesNotMatch(escape.body.stdout, /escaped/);
    for (const [key, group] of holderGroups) {
      const line = escape.body.stdout.split('\n').find((entry: string) => entry.split(':')[1] === key);
      assert.ok(line?.endsWith(`:${group.path}`), `still in ${group.path}: ${escape.body.stdout}`);
    }
    assert.equal(vm.resources.processes.max, 256);
    // [wsl2] processors = 1 on a host with more: one CPU's worth of time (a cpu quota), not all of them.
    if (availableParallelism() > 1 && existsSync('/sys/fs/cgroup/cpu/cpu.cfs_quota_us')) assert.equal(vm.resources.cpus, 1);
  });

  it('kills a process that allocates past the memory limit, and counts it', { timeout: 180_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces and cgroups');
    if (!canConfine) return t.skip('this host has no cgroup controllers to confine a VM with');
    const server = await startServer(t, { memoryBytes: 256 * MIB, swapBytes: 0 });
    await usersWithBusybox(t, server.socketPath, 'root');
    const before = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/run', { argv: ['true'] });
    assert.equal(before.status, 200);
    const vm = await vmOf(server.socketPath);
    assert.equal(vm.resources.limited, true, `the VM is confined: ${vm.resources.warnings.join('; ')}`);
    assert.equal(vm.resources.memory.maxBytes, 256 * MIB);
    assert.equal(vm.resources.memory.oomKills, 0);

    // tail -c keeps the last 400 MB it read: it must hold that much, more than the VM may have.
    const hog = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/run', {
      argv: ['/bin/sh', '-c', 'head -c 600000000 /dev/zero | tail -c 400000000 | wc -c'],
      timeoutMs: 120_000,
    });
    assert.equal(hog.status, 200, JSON.stringify(hog.body));
    assert.notEqual(hog.body.stdout.trim(), '400000000', 'tail never held 400 MB');

    const after = await eventually(
      async () => {
        const now = (await vmOf(server.socketPath)).resources;
        assert.ok(now.memory.oomKills > 0, JSON.stringify(now.memory));
        return now;
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'an OOM kill counted' },
    );
    assert.ok(after.memory.currentBytes <= 256 * MIB, JSON.stringify(after.memory));
    await eventually(
      async () => {
        const reached = (await eventsOf(server.socketPath)).filter((event) => event.type === 'vm-limit-reached');
        assert.ok(reached.some((event) => event.resource === 'memory' && event.limit === 256 * MIB), JSON.stringify(reached));
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'a vm-limit-reached memory event' },
    );
    assert.equal((await localRequest(server.socketPath, 'GET', '/v1/version')).status, 200, 'the service is unharmed');
  });

  it('removes the groups a killed service left behind when it starts again, and empty ones of services gone for good', { timeout: 120_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces and cgroups');
    if (!canConfine) return t.skip('this host has no cgroup controllers to confine a VM with');
    const dir = await sharedTempDir('lxssd-cgroups-');
    t.after(() => rm(dir, { recursive: true, force: true }));
    const socketPath = join(dir, 'run', 'lxssd.sock');
    const args = ['--listen', '127.0.0.1:0', '--socket', socketPath, '--state-dir', join(dir, 'state')];
    const stop = async (child: ChildProcess, signal: NodeJS.Signals) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await once(child, 'exit');
    };
    const first = (await serve(args)).child;
    t.after(() => stop(first, 'SIGKILL'));
    await usersWithBusybox(t, socketPath, 'root');
    assert.equal((await localRequest(socketPath, 'POST', '/v1/distributions/bb/processes', { argv: ['sleep', '1000'] })).status, 201);
    const vm = await vmOf(socketPath);
    assert.equal(vm.resources.limited, true, `the VM is confined: ${vm.resources.warnings.join('; ')}`);
    const folders = [...(await vmGroupsOf(vm.pid)).values()].map((group) => group.folder);
    assert.ok(folders.length > 0);

    await stop(first, 'SIGKILL');
    await eventually(() => assert.ok(!existsSync(`/proc/${vm.pid}`), 'the holder died with the service'), { timeoutMs: 10_000 });
    for (const folder of folders) assert.ok(existsSync(folder), `${folder} is left behind by the killed service`);

    // And the empty parent of a service on another state folder that was killed for good.
    const abandoned = folders.map((folder) => join(dirname(dirname(folder)), 'lxssd-000000000000'));
    for (const folder of abandoned) await mkdir(folder);
    t.after(() => Promise.all(abandoned.map((folder) => rmdir(folder).catch(() => undefined))));

    const second = (await serve(args)).child;
    t.after(() => stop(second, 'SIGTERM'));
    for (const folder of [...folders, ...abandoned]) {
      await eventually(() => assert.ok(!existsSync(folder), `${folder} is cleaned at start`), { timeoutMs: 10_000 });
    }
  });

  it('starts a VM without limits when the service is not root, and says so in a warning instead of failing', async (t) => {
    if (!isRoot) return t.skip('needs root to run the check as another user');
    const user = await ensureUser('bob');
    const module = new URL('../../src/hv/linux/cgroup.js', import.meta.url).href;
    const script = `import(${JSON.stringify(module)}).then(async ({ CgroupHost }) => {
      const group = await new CgroupHost('/nonexistent/state').create('u1', { memoryBytes: null, swapBytes: null, processors: null, maxProcesses: 64 });
      console.log(JSON.stringify({ folders: group.folders, resources: group.resources() }));
    })`;
    const result = await runAs(user, [process.execPath, '-e', script]);
    assert.equal(result.code, 0, result.stderr);
    const { folders, resources } = JSON.parse(result.stdout);
    assert.deepEqual(folders, [], 'no group to join');
    assert.equal(resources.limited, false);
    assert.match(resources.warnings.join('\n'), /limits are off: the service does not run as root/);
    assert.equal(resources.processes.max, null);
  });
});
