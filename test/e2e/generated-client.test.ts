// The typed client lxss uses (src/client: openapi-fetch over the types generated from the committed document)
// drives the whole distribution flow against a real server, over loopback TCP with a token and over the local
// socket. A document that types a body or an answer wrong shows here as a type error or a failed step.

import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createLxssClient, type ServerAddress } from '../../src/client/index.js';
import { eventually } from '../helpers/eventually.js';
import { tokenOf } from '../helpers/process-client.js';
import { busyboxRootfsTar } from '../helpers/rootfs.js';
import { sharedTempDir, startServer } from '../helpers/server.js';
import { digestTar } from '../helpers/tar-digest.js';
import { isRoot } from '../helpers/users.js';

async function flow(t: TestContext, address: ServerAddress, name: string): Promise<void> {
  const client = createLxssClient(address);
  t.after(() => client.close());
  const { api } = client;
  const dir = await sharedTempDir('lxssd-generated-client-');
  t.after(() => rm(dir, { recursive: true, force: true }));
  const tar = await busyboxRootfsTar();

  const version = await api.GET('/v1/version');
  assert.equal(version.response.status, 200);

  // The archive streams from the file: a ReadableStream body, never a string in memory.
  const imported = await api.POST('/v1/distributions', {
    params: { query: { name } },
    body: Readable.toWeb(createReadStream(tar)) as ReadableStream<Uint8Array>,
    headers: { 'content-type': 'application/octet-stream' },
  });
  assert.equal(imported.response.status, 201, JSON.stringify(imported.error));
  assert.equal(imported.data?.name, name);
  assert.match(imported.response.headers.get('location') ?? '', /^\/v1\/distributions\/[0-9a-f-]{36}$/);

  const list = await api.GET('/v1/distributions');
  assert.equal(list.response.status, 200);
  assert.ok(list.data?.distributions.some((distribution) => distribution.name === name), 'the list has the new distribution');

  const started = await api.POST('/v1/distributions/{distro}/instance', { params: { path: { distro: name } } });
  assert.ok([200, 201].includes(started.response.status), JSON.stringify(started.error));
  assert.equal(started.data?.state, 'Running');

  const ran = await api.POST('/v1/distributions/{distro}/run', {
    params: { path: { distro: name } },
    body: { argv: ['/bin/sh', '-c', 'cat /etc/hostname; echo to-stderr >&2; exit 3'] },
  });
  assert.equal(ran.response.status, 200, JSON.stringify(ran.error));
  assert.deepEqual([ran.data?.exitCode, ran.data?.stdout, ran.data?.stderr], [3, 'lxssd-busybox\n', 'to-stderr\n']);

  const created = await api.POST('/v1/distributions/{distro}/processes', {
    params: { path: { distro: name } },
    body: { commandLine: 'echo from-a-process; exit 7' },
  });
  assert.equal(created.response.status, 201, JSON.stringify(created.error));
  const id = created.data!.id;
  const output = await api.GET('/v1/processes/{id}/output', {
    params: { path: { id }, query: { follow: true } },
    parseAs: 'text',
  });
  assert.equal(output.data, 'from-a-process\n');
  const state = await eventually(async () => {
    const answer = await api.GET('/v1/processes/{id}', { params: { path: { id } } });
    assert.equal(answer.data?.state, 'exited');
    return answer.data!;
  });
  assert.equal(state.exitCode, 7);

  const exported = await api.GET('/v1/distributions/{distro}/export', {
    params: { path: { distro: name }, query: { format: 'tar' } },
    parseAs: 'stream',
  });
  assert.equal(exported.response.status, 200);
  assert.equal(exported.response.headers.get('content-type'), 'application/x-tar');
  const exportedTar = join(dir, 'exported.tar');
  await pipeline(Readable.fromWeb(exported.data as never), createWriteStream(exportedTar));
  const [before, after] = await Promise.all([digestTar(tar), digestTar(exportedTar)]);
  for (const entry of ['etc/hostname', 'etc/passwd', 'bin/busybox']) {
    assert.deepEqual(after.get(entry), before.get(entry), `the exported ${entry} is the imported one`);
  }

  const removed = await api.DELETE('/v1/distributions/{distro}', { params: { path: { distro: name } } });
  assert.equal(removed.response.status, 204, JSON.stringify(removed.error));
  const gone = await api.GET('/v1/distributions/{distro}', { params: { path: { distro: name } } });
  assert.equal(gone.response.status, 404);
  assert.equal(gone.error?.code, 'WSL_E_DISTRO_NOT_FOUND');
}

describe('the generated TypeScript client (src/client)', () => {
  it('imports from a file, lists, starts, runs, creates a process, reads it, exports and unregisters over TCP and the local socket', { timeout: 6 * 60_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces');
    const server = await startServer(t);
    const token = await tokenOf(server);
    await t.test('over TCP with a bearer token', (t) => flow(t, { url: server.url, token }, 'client-tcp'));
    await t.test('over the local socket', (t) => flow(t, { socketPath: server.socketPath }, 'client-unix'));
  });
});
