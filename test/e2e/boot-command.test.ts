// The [boot] command of wsl.conf in the busybox distribution: it runs as root when the instance starts, and its
// exit code and output (both streams, the first 64 KiB) come in a boot-command-exited event.

import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LxssEvent } from '../../src/core/events.js';
import { importAs, readableArchive } from '../helpers/distros.js';
import { eventually } from '../helpers/eventually.js';
import { busyboxRootfsTar } from '../helpers/rootfs.js';
import { startServer } from '../helpers/server.js';
import { curlLocalAs, ensureUser, isRoot } from '../helpers/users.js';

type BootEvent = Extract<LxssEvent, { type: 'boot-command-exited' }>;

/** Starts a busybox distribution whose wsl.conf holds `[boot] command`, and waits for the command's event. */
async function bootWith(t: TestContext, command: string): Promise<BootEvent> {
  const server = await startServer(t);
  const root = await ensureUser('root');
  const distro = await importAs(root, server.socketPath, 'bb', await readableArchive(t, await busyboxRootfsTar()));
  await writeFile(join(distro.basePath, 'rootfs', 'etc', 'wsl.conf'), `[boot]\ncommand = "${command}"\n`);
  const events: LxssEvent[] = [];
  server.app.lxss.sessions.forSid(`S-1-22-1-${root.uid}`).events.subscribe((event) => events.push(event));
  const started = await curlLocalAs(root, server.socketPath, 'POST', '/v1/distributions/bb/instance');
  assert.equal(started.status, 201, JSON.stringify(started.json));
  return eventually(
    () => {
      const event = events.find((e): e is BootEvent => e.type === 'boot-command-exited');
      assert.ok(event, 'the boot command exited');
      return event;
    },
    { timeoutMs: 10_000, what: 'the boot command ran' },
  );
}

describe('[boot] command', () => {
  it('reports its exit code and the output of both streams', async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces');
    const boot = await bootWith(t, 'echo out; echo err >&2; exit 3');
    assert.equal(boot.exitCode, 3, boot.output);
    assert.deepEqual(boot.output.split('\n').sort(), ['', 'err', 'out'], boot.output);
  });

  it('keeps the first 64 KiB of a longer output', async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces');
    const boot = await bootWith(t, 'yes | head -c 100000');
    assert.equal(boot.exitCode, 0, boot.output.slice(0, 200));
    assert.equal(boot.output, 'y\n'.repeat(50_000).slice(0, 64 * 1024));
  });
});
