// Imports and exports say how far they are: progress events at most a few times a second, the record's
// sizeBytes current while it installs, and a failed import says so on the bus before it is gone.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { eventually } from '../helpers/eventually.js';
import { localRequest } from '../helpers/local-client.js';
import { lxss } from '../helpers/lxss-cli.js';
import { busyboxRootfsTar } from '../helpers/rootfs.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { isRoot } from '../helpers/users.js';

interface BusEvent {
  type: string;
  name?: string;
  bytesRead?: number;
  bytesWritten?: number;
  code?: string;
  detail?: string;
}

async function events(server: TestServer, type: string): Promise<BusEvent[]> {
  const page = await localRequest(server.socketPath, 'GET', '/v1/events?since=0');
  return (page.body.events as BusEvent[]).filter((event) => event.type === type);
}

describe('transfer progress', { skip: !isRoot && 'needs root for namespaces' }, () => {
  it('reports an import under way in events and in the record’s size, then its end', { timeout: 120_000 }, async (t) => {
    const server = await startServer(t);
    const archive = await readFile(await busyboxRootfsTar());
    const socket = connect(server.socketPath);
    await once(socket, 'connect');
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    const started = Date.now();
    socket.write(
      `POST /v1/distributions?name=slow HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-tar\r\nContent-Length: ${archive.length}\r\nConnection: close\r\n\r\n`,
    );
    const half = Math.floor(archive.length / 2);
    socket.write(archive.subarray(0, half));

    const first = await eventually(async () => {
      const [progress] = await events(server, 'distribution-import-progress');
      assert.ok(progress, 'a progress event');
      return progress;
    }, { timeoutMs: 30_000, what: 'the first progress event' });
    assert.equal(first.name, 'slow');
    assert.ok(first.bytesWritten! > 0 && first.bytesWritten! <= half);
    assert.ok(first.bytesRead! >= first.bytesWritten!, 'an uncompressed tar: read as much as unpacked, at least');
    await eventually(async () => {
      const listed = (await localRequest(server.socketPath, 'GET', '/v1/distributions')).body.distributions as Array<{ state: string; sizeBytes: number }>;
      assert.equal(listed[0]?.state, 'Installing');
      assert.ok(listed[0]!.sizeBytes > 0, `sizeBytes while installing: ${listed[0]!.sizeBytes}`);
    }, { timeoutMs: 30_000, what: 'sizeBytes current while it installs' });

    socket.write(archive.subarray(half));
    await once(socket, 'close');
    assert.match(answer, /^HTTP\/1\.1 201 /);
    const seconds = (Date.now() - started) / 1000;
    const progress = await events(server, 'distribution-import-progress');
    assert.ok(progress.length <= Math.ceil(seconds * 4) + 1, `${progress.length} progress events in ${seconds} s: a few per second at most`);
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i]!.bytesWritten! >= progress[i - 1]!.bytesWritten!, 'never going back');
    assert.equal((await events(server, 'distribution-registered')).length, 1);
  });

  it('says when an import failed, with its code, and reports an export’s progress', { timeout: 120_000 }, async (t) => {
    const server = await startServer(t);
    const garbage = Buffer.alloc(64 * 1024, 'not a tar archive ');
    const refused = await new Promise<string>((resolve, reject) => {
      const socket = connect(server.socketPath);
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
      socket.write(`POST /v1/distributions?name=broken HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-tar\r\nContent-Length: ${garbage.length}\r\nConnection: close\r\n\r\n`);
      socket.write(garbage);
    });
    assert.match(refused, /^HTTP\/1\.1 400 /);
    const [failed] = await events(server, 'distribution-import-failed');
    assert.ok(failed, 'a failure event');
    assert.equal(failed.name, 'broken');
    assert.equal(failed.code, 'WSL_E_IMPORT_FAILED');
    assert.ok(failed.detail && failed.detail.length > 0);
    assert.deepEqual((await localRequest(server.socketPath, 'GET', '/v1/distributions')).body.distributions, [], 'and nothing of it is left');

    const env = { LXSS_SOCKET: server.socketPath };
    assert.equal((await lxss(['--import', 'ok', `${server.stateDir}/../ok`, await busyboxRootfsTar()], env)).code, 0);
    const exported = await lxss(['--export', 'ok', '-'], env);
    assert.equal(exported.code, 0);
    const progress = await events(server, 'distribution-export-progress');
    assert.ok(progress.length >= 1, 'an export progress event');
    assert.equal(progress[0]!.name, 'ok');
    assert.ok(progress.at(-1)!.bytesWritten! <= exported.stdout.length);
  });
});
