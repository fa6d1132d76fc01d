// lxssd-init inside a busybox root (chrooted by lxssd-nsexec in a user + mount namespace with the identity
// mapping): users and groups come from the distribution's own /etc/passwd and /etc/group; host folders mount in.

import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { closeSync, constants as fsConstants, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detachedMountTree } from '../../src/hv/linux/fd-passing.js';
import { InitError, LaunchError } from '../../src/hv/linux/init-channel.js';
import { busyboxRoot, launchDetached, needsRoot, run, startInit, type StartedInit } from './harness.js';

const O_PATH = 0o10000000;

/** init chrooted into a fresh busybox root with extra groups and users for these tests. */
async function startChrooted(t: TestContext): Promise<StartedInit & { root: string }> {
  const root = await busyboxRoot(t);
  await appendFile(join(root, 'etc/group'), 'wheel:x:10:root,alice\naudio:x:29:bob,alice\nempty:x:30:\n');
  // bob's home is /root (0700, root's): he cannot enter it and starts in /.
  await appendFile(join(root, 'etc/passwd'), '# a comment\nbob:x:1001:1001:bob:/root:/bin/sh\n');
  const started = await startInit(t, { root });
  return { ...started, root };
}

describe('users from the distribution\'s /etc/passwd and /etc/group', () => {
  it('launches `id -u` as alice (by name): 1000 on the stdout we passed, EXITED 0', async (t) => {
    if (needsRoot(t)) return;
    const { channel } = await startChrooted(t);
    const result = await run(channel, { argv: ['/bin/id', '-u'], user: 'alice' });
    assert.deepEqual([result.stdout, result.stderr, result.status.exitCode, result.status.signal], ['1000\n', '', 0, null]);
  });

  it('gives alice her gid, her supplementary groups and her home as cwd', async (t) => {
    if (needsRoot(t)) return;
    const { channel } = await startChrooted(t);
    const result = await run(channel, { argv: ['/bin/sh', '-c', 'id -g; id -G; pwd; cat hello.txt'], user: 'alice', env: { PATH: '/bin' } });
    assert.equal(result.stdout, '1000\n1000 10 29\n/home/alice\nhello from alice\n', result.stderr);
  });

  it('resolves a uid the same way as its name', async (t) => {
    if (needsRoot(t)) return;
    const { channel } = await startChrooted(t);
    const result = await run(channel, { argv: ['/bin/sh', '-c', 'id -u; id -G; pwd'], uid: 1000, env: { PATH: '/bin' } });
    assert.equal(result.stdout, '1000\n1000 10 29\n/home/alice\n');
  });

  it('runs a uid without a passwd entry with gid = uid, no supplementary groups, in /', async (t) => {
    if (needsRoot(t)) return;
    const { channel } = await startChrooted(t);
    const result = await run(channel, { argv: ['/bin/sh', '-c', 'id -u; id -g; id -G; pwd'], uid: 4242, env: { PATH: '/bin' } });
    assert.equal(result.stdout, '4242\n4242\n4242\n/\n');
  });

  it('runs as root by default, in /root, with root\'s groups', async (t) => {
    if (needsRoot(t)) return;
    const { channel } = await startChrooted(t);
    const result = await run(channel, { argv: ['/bin/sh', '-c', 'id -u; id -G; pwd'], env: { PATH: '/bin' } });
    assert.equal(result.stdout, '0\n0 10\n/root\n');
  });

  it('falls back to / when the home cannot be entered', async (t) => {
    if (needsRoot(t)) return;
    const { channel } = await startChrooted(t);
    const result = await run(channel, { argv: ['/bin/sh', '-c', 'id -u; id -G; pwd'], user: 'bob', env: { PATH: '/bin' } });
    assert.equal(result.stdout, '1001\n1001 29\n/\n');
  });

  it('drops privileges for real: alice cannot read /etc/shadow', async (t) => {
    if (needsRoot(t)) return;
    const { channel } = await startChrooted(t);
    const result = await run(channel, { argv: ['/bin/cat', '/etc/shadow'], user: 'alice' });
    assert.notEqual(result.status.exitCode, 0);
    assert.match(result.stderr, /Permission denied/);
    const asRoot = await run(channel, { argv: ['/bin/cat', '/etc/shadow'] });
    assert.equal(asRoot.status.exitCode, 0, asRoot.stderr);
  });

  it('answers LAUNCH_FAILED 67 for an unknown user, before running anything', async (t) => {
    if (needsRoot(t)) return;
    const { channel } = await startChrooted(t);
    await assert.rejects(launchDetached(channel, { argv: ['/bin/true'], user: 'mallory' }), (error: LaunchError) => {
      assert.ok(error instanceof LaunchError, String(error));
      assert.equal(error.exitCode, 67);
      assert.match(error.message, /user "mallory" not found in \/etc\/passwd/);
      return true;
    });
  });

  it('reports 127 for a program missing inside the root, even when the host has it', async (t) => {
    if (needsRoot(t)) return;
    const { channel } = await startChrooted(t);
    await assert.rejects(launchDetached(channel, { argv: ['/usr/bin/env'] }), (error: LaunchError) => error.exitCode === 127);
    const viaPath = await run(channel, { argv: ['id', '-un'], user: 'alice', env: { PATH: '/usr/bin:/bin' } });
    assert.equal(viaPath.stdout, 'alice\n');
  });
});

describe('MOUNT and UNMOUNT', () => {
  async function hostFolder(t: TestContext): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'lxssd-init-host-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'f'), 'from the host\n');
    return dir;
  }

  function openTree(dir: string, readOnly = false): number {
    const fd = openSync(dir, O_PATH | fsConstants.O_DIRECTORY);
    try {
      return detachedMountTree(fd, readOnly);
    } finally {
      closeSync(fd);
    }
  }

  it('binds a host folder at a new target, writable, and unmounts it', async (t) => {
    if (needsRoot(t)) return;
    const host = await hostFolder(t);
    const { channel, root } = await startChrooted(t);
    await channel.mount('/mnt/host/deep', openTree(host));
    const seen = await run(channel, { argv: ['/bin/sh', '-c', 'cat /mnt/host/deep/f && echo new > /mnt/host/deep/g'], env: { PATH: '/bin' } });
    assert.deepEqual([seen.status.exitCode, seen.stdout], [0, 'from the host\n'], seen.stderr);
    assert.equal(await readFile(join(host, 'g'), 'utf8'), 'new\n');
    // The target was created in the distribution, and the bind is visible only inside init's mount namespace.
    assert.deepEqual(await readdir(join(root, 'mnt/host/deep')), []);

    await channel.unmount('/mnt/host/deep');
    const after = await run(channel, { argv: ['/bin/ls', '-A', '/mnt/host/deep'] });
    assert.deepEqual([after.status.exitCode, after.stdout], [0, '']);
    await assert.rejects(channel.unmount('/mnt/host/deep'), (error: InitError) => error.code === 'EINVAL');
  });

  it('binds read-only when asked (even when the tree itself is writable)', async (t) => {
    if (needsRoot(t)) return;
    const host = await hostFolder(t);
    const { channel } = await startChrooted(t);
    await channel.mount('/mnt/ro', openTree(host), true);
    const write = await run(channel, { argv: ['/bin/sh', '-c', 'cat /mnt/ro/f; touch /mnt/ro/x'], env: { PATH: '/bin' } });
    assert.equal(write.stdout, 'from the host\n');
    assert.notEqual(write.status.exitCode, 0);
    assert.match(write.stderr, /Read-only file system/);
    assert.deepEqual((await readdir(host)).sort(), ['f']);
  });

  it('refuses a plain folder descriptor of another mount namespace, with a clear message', async (t) => {
    if (needsRoot(t)) return;
    const host = await hostFolder(t);
    const { channel } = await startChrooted(t);
    await assert.rejects(channel.mount('/mnt/plain', openSync(host, O_PATH | fsConstants.O_DIRECTORY)), (error: InitError) => {
      assert.equal(error.code, 'EINVAL');
      assert.match(error.message, /detached mount tree/);
      return true;
    });
    const still = await run(channel, { argv: ['/bin/true'] });
    assert.equal(still.status.exitCode, 0);
  });
});
