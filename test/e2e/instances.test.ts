// Distributions running for real: the per-user VM, instances in their own namespaces with our /init as
// PID 1, shared host folders, idle stops, terminate, shutdown, and nothing outliving the service.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmod, chown, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LxssEvent } from '../../src/core/events.js';
import { eventually } from '../helpers/eventually.js';
import { importAs, readableArchive as archive } from '../helpers/distros.js';
import { serve } from '../helpers/binary.js';
import { localRequest } from '../helpers/local-client.js';
import { attach, tokenOf } from '../helpers/process-client.js';
import { namespaceOf, nsPids, processesInPidNamespace, stateOf } from '../helpers/proc.js';
import { busyboxRootfsTar, debianMinbaseTar } from '../helpers/rootfs.js';
import { sharedTempDir, startServer, type ConfigOverrides, type TestServer } from '../helpers/server.js';
import { curlLocalAs, ensureUser, isRoot, type TestUser } from '../helpers/users.js';

const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';


/** Runs argv in a running instance through its /init (the hv layer, as the processes API will). */
async function runIn(
  server: TestServer,
  user: TestUser,
  distributionId: string,
  argv: string[],
  runAs?: string | number,
): Promise<{ exitCode: number; signal: number | null; stdout: string; stderr: string; pid: number }> {
  const instances = await server.app.lxss.sessions.forSid(`S-1-22-1-${user.uid}`).instances();
  const instance = instances.acquire(distributionId);
  assert.ok(instance, 'the distribution is running');
  try {
    const sid = `S-1-22-1-${user.uid}`;
    const { basePath } = (await server.app.lxss.sessions.forSid(sid).distributions()).get(distributionId);
    const uid = typeof runAs === 'string' ? (await server.app.lxss.hv.files.findUser(sid, basePath, runAs))?.uid : runAs;
    const process = await instance.spawn({ argv, env: [PATH, 'HOME=/root'], user: uid, cwd: '/' });
    process.stdin?.end();
    let stdout = '';
    let stderr = '';
    process.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    process.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const drained = Promise.all([
      process.stdout ? once(process.stdout, 'close') : undefined,
      process.stderr ? once(process.stderr, 'close') : undefined,
    ]);
    const status = await process.exited;
    await drained;
    return { ...status, stdout, stderr, pid: process.pid! };
  } finally {
    instances.release(distributionId);
  }
}

function eventsOf(server: TestServer, user: TestUser): LxssEvent[] {
  const events: LxssEvent[] = [];
  server.app.lxss.sessions.forSid(`S-1-22-1-${user.uid}`).events.subscribe((event) => events.push(event));
  return events;
}

async function startInstance(user: TestUser, server: TestServer, distro: string): Promise<{ pid: number; hostname: string }> {
  const started = await curlLocalAs(user, server.socketPath, 'POST', `/v1/distributions/${distro}/instance`);
  assert.equal(started.status, 201, JSON.stringify(started.json));
  return started.json as { pid: number; hostname: string };
}

describe('POST /v1/distributions/{distro}/instance', () => {
  it('runs alice’s distro with /init as PID 1 in its own namespaces, named after the distro, with her home at /mnt/home [S5]', async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    const server = await startServer(t);
    const alice = await ensureUser('alice');
    const tar = await archive(t, await busyboxRootfsTar());
    const distro = await importAs(alice, server.socketPath, 'alpine-ish', tar);

    const secret = join(alice.home, `lxssd-secret-${process.pid}`);
    const visible = join(alice.home, `lxssd-visible-${process.pid}`);
    await writeFile(secret, 'root only');
    await chmod(secret, 0o600);
    await writeFile(visible, 'for alice');
    await chown(visible, alice.uid, alice.gid);
    t.after(() => Promise.all([rm(secret, { force: true }), rm(visible, { force: true })]));

    const instance = await startInstance(alice, server, 'alpine-ish');
    assert.equal(instance.hostname, 'alpine-ish');
    const again = await curlLocalAs(alice, server.socketPath, 'POST', '/v1/distributions/alpine-ish/instance');
    assert.equal(again.status, 200, 'starting a running distribution is a no-op');
    assert.equal((again.json as { pid: number }).pid, instance.pid);

    const pids = await nsPids(instance.pid);
    assert.equal(pids.at(-1), 1, `init is PID 1 in its namespace (NSpid ${pids.join(' ')})`);
    assert.ok(pids.length >= 2, 'in a nested PID namespace');
    for (const kind of ['pid', 'mnt', 'uts', 'ipc', 'user'] as const) {
      assert.notEqual(await namespaceOf(instance.pid, kind), await namespaceOf(process.pid, kind), `${kind} namespace differs`);
    }
    const comm = (await import('node:fs/promises')).readFile(`/proc/${instance.pid}/comm`, 'utf8');
    assert.match(await comm, /init/, 'PID 1 is our agent');

    assert.equal((await runIn(server, alice, distro.id, ['hostname'])).stdout.trim(), 'alpine-ish');
    const id = await runIn(server, alice, distro.id, ['id', '-u'], 'alice');
    assert.deepEqual([id.stdout.trim(), id.exitCode], ['1000', 0], 'id -u as alice inside');
    const home = await runIn(server, alice, distro.id, ['cat', `/mnt/home/lxssd-visible-${process.pid}`]);
    assert.equal(home.stdout, 'for alice', '/mnt/home shows alice’s home');
    const denied = await runIn(server, alice, distro.id, ['cat', `/mnt/home/lxssd-secret-${process.pid}`]);
    assert.notEqual(denied.exitCode, 0, 'root inside cannot read a root-owned 0600 file of the host');
    assert.match(denied.stderr, /Permission denied/);

    const vm = await curlLocalAs(alice, server.socketPath, 'GET', '/v1/vm');
    assert.equal((vm.json as any).state, 'Running');
    assert.deepEqual((vm.json as any).instances.map((i: { name: string }) => i.name), ['alpine-ish']);
    const listed = await curlLocalAs(alice, server.socketPath, 'GET', '/v1/distributions/alpine-ish');
    assert.equal((listed.json as any).state, 'Running');
  });

  it('reaps orphans and reports exit codes through /init', async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    const server = await startServer(t);
    const alice = await ensureUser('alice');
    const distro = await importAs(alice, server.socketPath, 'bb', await archive(t, await busyboxRootfsTar()));
    const instance = await startInstance(alice, server, 'bb');
    const ns = (await namespaceOf(instance.pid, 'pid'))!;

    assert.equal((await runIn(server, alice, distro.id, ['sh', '-c', 'exit 3'])).exitCode, 3);
    const killed = await runIn(server, alice, distro.id, ['sh', '-c', 'kill -TERM $$']);
    assert.deepEqual([killed.exitCode, killed.signal], [143, 15]);
    const orphaned = await runIn(server, alice, distro.id, ['sh', '-c', 'sleep 1 & exit 0']);
    assert.equal(orphaned.exitCode, 0);
    await eventually(
      async () => {
        const members = await processesInPidNamespace(ns);
        assert.deepEqual(members, [instance.pid], 'only init is left');
        assert.notEqual(await stateOf(instance.pid), 'Z');
      },
      { timeoutMs: 5000, what: 'the orphaned sleep ended and was reaped' },
    );
  });
});

describe('/v1/distributions/{distro}/mounts', () => {
  it('binds a host folder alice may read into her running distro, refuses one she may not, and unbinds [S5]', async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    const server = await startServer(t);
    const alice = await ensureUser('alice');
    const distro = await importAs(alice, server.socketPath, 'bb', await archive(t, await busyboxRootfsTar()));
    const notRunning = await curlLocalAs(alice, server.socketPath, 'GET', '/v1/distributions/bb/mounts');
    assert.equal((notRunning.json as any).code, 'LXSSD_E_NOT_RUNNING');
    await startInstance(alice, server, 'bb');

    const shared = await sharedTempDir('lxssd-share-');
    const closed = await sharedTempDir('lxssd-closed-');
    t.after(() => Promise.all([rm(shared, { recursive: true, force: true }), rm(closed, { recursive: true, force: true })]));
    await writeFile(join(shared, 'note.txt'), 'shared with alice');
    await chmod(closed, 0o700);

    const added = await curlLocalAs(alice, server.socketPath, 'POST', '/v1/distributions/bb/mounts', {
      hostPath: shared,
      target: '/mnt/data',
      readOnly: true,
    });
    assert.equal(added.status, 201, JSON.stringify(added.json));
    assert.equal((await runIn(server, alice, distro.id, ['cat', '/mnt/data/note.txt'])).stdout, 'shared with alice');
    const write = await runIn(server, alice, distro.id, ['sh', '-c', 'echo x > /mnt/data/new']);
    assert.notEqual(write.exitCode, 0, 'a read-only share refuses writes');

    const refused = await curlLocalAs(alice, server.socketPath, 'POST', '/v1/distributions/bb/mounts', {
      hostPath: closed,
      target: '/mnt/closed',
    });
    assert.equal(refused.status, 403, 'a folder alice cannot read on the host');
    assert.equal((refused.json as any).code, 'E_ACCESSDENIED');
    const twice = await curlLocalAs(alice, server.socketPath, 'POST', '/v1/distributions/bb/mounts', {
      hostPath: shared,
      target: '/mnt/data',
    });
    assert.equal(twice.status, 409);
    const escape = await curlLocalAs(alice, server.socketPath, 'POST', '/v1/distributions/bb/mounts', {
      hostPath: shared,
      target: '/mnt/../etc',
    });
    assert.equal(escape.status, 400, 'a target with ..');
    for (const target of ['/', '/proc', '/sys/fs', '/dev', '/bin/sh', '/etc/passwd/x']) {
      const onto = await curlLocalAs(alice, server.socketPath, 'POST', '/v1/distributions/bb/mounts', { hostPath: shared, target });
      assert.equal(onto.status, 400, `a share onto ${target}: ${JSON.stringify(onto.json)}`);
      assert.equal((onto.json as any).code, 'E_INVALIDARG', target);
    }
    const twiceSpelled = await curlLocalAs(alice, server.socketPath, 'POST', '/v1/distributions/bb/mounts', {
      hostPath: shared,
      target: '/mnt//data/',
    });
    assert.equal(twiceSpelled.status, 409, 'the same target spelled another way');

    const listed = (await curlLocalAs(alice, server.socketPath, 'GET', '/v1/distributions/bb/mounts')).json as any;
    assert.deepEqual(
      listed.mounts.map((m: { target: string; origin: string }) => [m.target, m.origin]),
      [
        ['/mnt/home', 'automount'],
        ['/mnt/data', 'runtime'],
      ],
    );
    const removed = await curlLocalAs(alice, server.socketPath, 'DELETE', '/v1/distributions/bb/mounts?target=/mnt/data/');
    assert.equal(removed.status, 204);
    assert.notEqual((await runIn(server, alice, distro.id, ['cat', '/mnt/data/note.txt'])).exitCode, 0, 'unbound');
  });
});

describe('DELETE /v1/distributions/{distro}/instance', () => {
  it('leaves no process of the instance within 2 s, and terminating a stopped distro succeeds [R3]', async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    const server = await startServer(t);
    const alice = await ensureUser('alice');
    const events = eventsOf(server, alice);
    const distro = await importAs(alice, server.socketPath, 'bb', await archive(t, await busyboxRootfsTar()));
    const instance = await startInstance(alice, server, 'bb');
    const ns = (await namespaceOf(instance.pid, 'pid'))!;
    const instances = await server.app.lxss.sessions.forSid(`S-1-22-1-${alice.uid}`).instances();
    const hv = instances.acquire(distro.id)!;
    await hv.spawn({ argv: ['sh', '-c', 'sleep 1000 & sleep 1000'], env: [PATH] });
    await eventually(async () => assert.ok((await processesInPidNamespace(ns)).length >= 3), { what: 'sleepers running' });

    const stopped = await curlLocalAs(alice, server.socketPath, 'DELETE', '/v1/distributions/bb/instance');
    assert.equal(stopped.status, 204);
    await eventually(async () => assert.deepEqual(await processesInPidNamespace(ns), []), {
      timeoutMs: 2000,
      what: 'no process of the instance left',
    });
    assert.equal((await curlLocalAs(alice, server.socketPath, 'DELETE', '/v1/distributions/bb/instance')).status, 204);
    const gone = await curlLocalAs(alice, server.socketPath, 'GET', '/v1/distributions/bb/instance');
    assert.equal(gone.status, 404);
    assert.equal((gone.json as any).code, 'LXSSD_E_NOT_RUNNING');
    const stop = events.find((event) => event.type === 'instance-stopped');
    assert.equal(stop?.type === 'instance-stopped' ? stop.reason : undefined, 'requested');
  });
});

describe('idle timeouts', () => {
  it('stops an idle instance after instanceIdleTimeout and then the VM after vmIdleTimeout', async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    const overrides: ConfigOverrides = { instanceIdleTimeout: 300, vmIdleTimeout: 300 };
    const server = await startServer(t, overrides);
    const alice = await ensureUser('alice');
    const events = eventsOf(server, alice);
    await importAs(alice, server.socketPath, 'bb', await archive(t, await busyboxRootfsTar()));
    const instance = await startInstance(alice, server, 'bb');
    const ns = (await namespaceOf(instance.pid, 'pid'))!;
    await eventually(() => assert.ok(events.some((event) => event.type === 'vm-stopped')), {
      timeoutMs: 5000,
      what: 'the VM stopped by itself',
    });
    const stops = events.filter((event) => event.type === 'instance-stopped' || event.type === 'vm-stopped');
    assert.deepEqual(
      stops.map((event) => [event.type, 'reason' in event ? event.reason : undefined]),
      [
        ['instance-stopped', 'idle'],
        ['vm-stopped', 'idle'],
      ],
    );
    assert.deepEqual(await processesInPidNamespace(ns), []);
    const vm = await curlLocalAs(alice, server.socketPath, 'GET', '/v1/vm');
    assert.equal((vm.json as any).state, 'Stopped');
  });
});

describe('POST /v1/shutdown', () => {
  it('stops the caller’s instances and VM and no other user’s', async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    const server = await startServer(t);
    const [alice, bob] = await Promise.all([ensureUser('alice'), ensureUser('bob')]);
    const tar = await archive(t, await busyboxRootfsTar());
    await importAs(alice, server.socketPath, 'a1', tar);
    await importAs(alice, server.socketPath, 'a2', tar);
    await importAs(bob, server.socketPath, 'b1', tar);
    const alices = [await startInstance(alice, server, 'a1'), await startInstance(alice, server, 'a2')];
    const bobs = await startInstance(bob, server, 'b1');
    const namespaces = await Promise.all(alices.map((instance) => namespaceOf(instance.pid, 'pid')));

    assert.equal((await curlLocalAs(alice, server.socketPath, 'POST', '/v1/shutdown')).status, 204);
    for (const ns of namespaces) assert.deepEqual(await processesInPidNamespace(ns!), [], 'alice’s instance is gone');
    assert.equal(((await curlLocalAs(alice, server.socketPath, 'GET', '/v1/vm')).json as any).state, 'Stopped');
    const bobsVm = (await curlLocalAs(bob, server.socketPath, 'GET', '/v1/vm')).json as any;
    assert.equal(bobsVm.state, 'Running', 'bob’s VM is untouched');
    assert.equal(bobsVm.instances[0].pid, bobs.pid);
    assert.notEqual(await stateOf(bobs.pid), undefined, 'bob’s init still runs');
  });
});

describe('the service dies [R2]', () => {
  it('takes every instance with it when SIGKILLed, and a restarted service finds none running', async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    const dir = await sharedTempDir('lxssd-kill-');
    t.after(() => rm(dir, { recursive: true, force: true }));
    const socketPath = join(dir, 'run', 'lxssd.sock');
    const start = async (): Promise<ChildProcess> => {
      const { child } = await serve(['--listen', '127.0.0.1:0', '--socket', socketPath, '--state-dir', join(dir, 'state')]);
      t.after(() => child.kill('SIGKILL'));
      return child;
    };
    const service = await start();
    const root = await ensureUser('root');
    const tar = await archive(t, await busyboxRootfsTar());
    await importAs(root, socketPath, 'one', tar);
    await importAs(root, socketPath, 'two', tar);
    const started = await Promise.all(['one', 'two'].map((name) => localRequest(socketPath, 'POST', `/v1/distributions/${name}/instance`)));
    const namespaces = await Promise.all(started.map((response) => namespaceOf(response.body.pid as number, 'pid')));
    assert.ok(namespaces.every(Boolean));

    service.kill('SIGKILL');
    await once(service, 'exit');
    await eventually(
      async () => {
        for (const ns of namespaces) assert.deepEqual(await processesInPidNamespace(ns!), [], `${ns} is empty`);
      },
      { timeoutMs: 2000, what: 'no process of either instance left' },
    );

    await start();
    const vm = await localRequest(socketPath, 'GET', '/v1/vm');
    assert.equal(vm.body.state, 'Stopped');
    const listed = await localRequest(socketPath, 'GET', '/v1/distributions');
    assert.deepEqual(listed.body.distributions.map((d: { state: string }) => d.state), ['Installed', 'Installed']);
  });

  it('on SIGTERM closes process streams with 1001, ends every instance, and exits 0 [R4]', async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces');
    const dir = await sharedTempDir('lxssd-term-');
    t.after(() => rm(dir, { recursive: true, force: true }));
    const socketPath = join(dir, 'run', 'lxssd.sock');
    const { child: service, url } = await serve(['--listen', '127.0.0.1:0', '--socket', socketPath, '--state-dir', join(dir, 'state')]);
    t.after(() => service.kill('SIGKILL'));
    const distro = await importAs(await ensureUser('root'), socketPath, 'one', await archive(t, await busyboxRootfsTar()));
    // A stop asks processes to end (SIGTERM) where mere death of the service would SIGKILL them: the trap tells which.
    const sleeper = await localRequest(socketPath, 'POST', '/v1/distributions/one/processes', {
      argv: ['sh', '-c', 'trap "echo asked > /root/stopped; exit 0" TERM; sleep 1000 & wait'],
    });
    assert.equal(sleeper.status, 201, JSON.stringify(sleeper.body));
    const instance = await localRequest(socketPath, 'GET', '/v1/distributions/one/instance');
    const namespace = await namespaceOf(instance.body.pid as number, 'pid');
    assert.ok(namespace);
    const stdio = await attach({ port: Number(new URL(url).port) }, await tokenOf({ socketPath }), sleeper.body.id as string);

    const exited = once(service, 'exit');
    service.kill('SIGTERM');
    assert.deepEqual(await stdio.closed, { code: 1001, reason: 'lxssd is shutting down' });
    assert.deepEqual(await exited, [0, null], 'a clean exit');
    await eventually(async () => assert.deepEqual(await processesInPidNamespace(namespace), []), {
      timeoutMs: 2000,
      what: 'no process of the instance left',
    });
    assert.equal(await readFile(join(distro.basePath, 'rootfs', 'root', 'stopped'), 'utf8'), 'asked\n', 'the instance was stopped, not killed');
  });
});

describe('the debootstrap Debian', () => {
  it('starts, runs its [boot] command, and stops cleanly', { timeout: 10 * 60_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    if (process.env.LXSSD_TEST_DEBIAN === '0') return t.skip('LXSSD_TEST_DEBIAN=0');
    const server = await startServer(t);
    const alice = await ensureUser('alice');
    const events = eventsOf(server, alice);
    const distro = await importAs(alice, server.socketPath, 'Debian', await archive(t, await debianMinbaseTar()));
    const wslConf = join(distro.basePath, 'rootfs', 'etc', 'wsl.conf');
    // Quoted, as WSL's documentation writes it: unquoted, `;` would start a comment.
    await writeFile(wslConf, '[boot]\ncommand = "echo booted > /run/booted; cat /etc/debian_version"\n');
    await chown(wslConf, alice.uid, alice.gid);

    const instance = await startInstance(alice, server, 'Debian');
    assert.equal(instance.hostname, 'Debian');
    const boot = await eventually(
      () => {
        const event = events.find((e) => e.type === 'boot-command-exited');
        assert.ok(event && event.type === 'boot-command-exited');
        return event;
      },
      { timeoutMs: 10_000, what: 'the boot command ran' },
    );
    assert.equal(boot.exitCode, 0, boot.output);
    assert.match(boot.output, /^12\./);
    assert.equal((await runIn(server, alice, distro.id, ['cat', '/run/booted'])).stdout, 'booted\n');
    const ns = (await namespaceOf(instance.pid, 'pid'))!;
    assert.equal((await curlLocalAs(alice, server.socketPath, 'DELETE', '/v1/distributions/Debian/instance')).status, 204);
    await eventually(async () => assert.deepEqual(await processesInPidNamespace(ns), []), { timeoutMs: 2000 });
  });
});
