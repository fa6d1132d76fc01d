// S10, slow clients: a body trickled a byte at a time, a body that stops, an import that stalls, headers that
// never come — each is cut, and a stalled import leaves nothing registered and nothing on disk. WebSockets,
// long-lived by design, are not cut.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { open, readFile, readdir } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import WebSocket from 'ws';
import { eventually } from '../helpers/eventually.js';
import { localRequest } from '../helpers/local-client.js';
import { busyboxRootfsTar } from '../helpers/rootfs.js';
import { startServer } from '../helpers/server.js';
import { idleConnection } from '../helpers/tcp.js';
import { isRoot } from '../helpers/users.js';

interface RawExchange {
  socket: Socket;
  /** everything the server wrote */
  received: () => string;
  closed: Promise<void>;
}

/** A request written by hand on a TCP (port) or local-socket (path) connection, its body still to come. */
async function rawRequest(where: number | string, head: string): Promise<RawExchange> {
  const socket = typeof where === 'number' ? connect({ host: '127.0.0.1', port: where }) : connect(where);
  let text = '';
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await once(socket, 'connect');
  socket.write(head);
  return { socket, received: () => text, closed };
}

async function mint(socketPath: string): Promise<string> {
  return (await localRequest(socketPath, 'POST', '/v1/tokens', {})).body.token as string;
}

describe('slow requests [S10]', () => {
  it('cuts an authenticated JSON body trickled a byte at a time, long before it is complete', async (t) => {
    const server = await startServer(t, { bodyTimeout: 1500, bodyIdleTimeout: 60_000 });
    const token = await mint(server.socketPath);
    const length = 10_000;
    const exchange = await rawRequest(
      server.port,
      `POST /v1/distributions/x/processes HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nAuthorization: Bearer ${token}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${length}\r\n\r\n{"argv":["`,
    );
    let sent = 0;
    const trickle = setInterval(() => {
      if (!exchange.socket.destroyed) exchange.socket.write('a');
      sent++;
    }, 100);
    t.after(() => clearInterval(trickle));
    await exchange.closed;
    clearInterval(trickle);
    assert.ok(sent < length / 10, `cut after ${sent} of ${length} bytes: a client that never idles is cut all the same`);
  });

  it('cuts a body that stops arriving, with a 408, on any route', async (t) => {
    const server = await startServer(t, { bodyTimeout: 60_000, bodyIdleTimeout: 1000 });
    const token = await mint(server.socketPath);
    const exchange = await rawRequest(
      server.port,
      `POST /v1/tokens HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nAuthorization: Bearer ${token}\r\n` +
        `Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"la`,
    );
    await exchange.closed;
    assert.match(exchange.received(), /^HTTP\/1\.1 408 /);
    assert.match(exchange.received(), /LXSSD_E_REQUEST_TIMEOUT/);
    assert.equal((await localRequest(server.socketPath, 'GET', '/v1/session')).status, 200, 'the service carries on');
  });

  it('fails a stalled import and leaves nothing registered and nothing on disk', { timeout: 120_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces');
    const server = await startServer(t, { bodyIdleTimeout: 1500 });
    const tar = await busyboxRootfsTar();
    const file = await open(tar);
    const { size } = await file.stat();
    const head = Buffer.alloc(Math.min(256 * 1024, size - 1));
    await file.read(head, 0, head.length, 0);
    await file.close();

    const exchange = await rawRequest(
      server.socketPath,
      `POST /v1/distributions?name=stalled HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-tar\r\nContent-Length: ${size}\r\n\r\n`,
    );
    exchange.socket.write(head);
    await eventually(async () => {
      const listed = (await localRequest(server.socketPath, 'GET', '/v1/distributions')).body.distributions;
      assert.equal(listed.length, 1, 'the import is under way');
    });
    await exchange.closed;
    assert.match(exchange.received(), /LXSSD_E_REQUEST_TIMEOUT/, 'the client is told why');

    const folder = join(server.stateDir, 'users', 'S-1-22-1-0', 'distributions');
    await eventually(async () => {
      const listed = (await localRequest(server.socketPath, 'GET', '/v1/distributions')).body.distributions;
      assert.deepEqual(listed, [], 'nothing registered');
      assert.deepEqual(await readdir(folder).catch(() => []), [], 'nothing on disk');
    }, { timeoutMs: 30_000, what: 'the stalled import undone' });
  });

  it('cuts an import trickled a few bytes at a time, though it never goes quiet, and undoes it', { timeout: 120_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces');
    const server = await startServer(t, { bodyIdleTimeout: 1500 });
    const archive = await readFile(await busyboxRootfsTar());
    const size = archive.length;
    const head = archive.subarray(0, 64 * 1024);

    const exchange = await rawRequest(
      server.socketPath,
      `POST /v1/distributions?name=trickled HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-tar\r\nContent-Length: ${size}\r\n\r\n`,
    );
    exchange.socket.write(head);
    // Never quiet for long (a byte every 100 ms), but far below 16 KiB per bodyIdleTimeout.
    let offset = head.length;
    const trickle = setInterval(() => {
      if (!exchange.socket.destroyed && offset < size) exchange.socket.write(archive.subarray(offset, ++offset));
    }, 100);
    t.after(() => clearInterval(trickle));
    await exchange.closed;
    clearInterval(trickle);
    assert.match(exchange.received(), /LXSSD_E_REQUEST_TIMEOUT/, 'the client is told why');
    assert.match(exchange.received(), /16 KiB/, 'and what the bound is');

    const folder = join(server.stateDir, 'users', 'S-1-22-1-0', 'distributions');
    await eventually(async () => {
      const listed = (await localRequest(server.socketPath, 'GET', '/v1/distributions')).body.distributions;
      assert.deepEqual(listed, [], 'nothing registered');
      assert.deepEqual(await readdir(folder).catch(() => []), [], 'nothing on disk');
    }, { timeoutMs: 30_000, what: 'the trickled import undone' });
  });

  it('closes a connection that never sends its headers, and leaves a WebSocket alone', async (t) => {
    const server = await startServer(t, { headersTimeout: 1000, keepAliveTimeout: 1000, bodyTimeout: 1000, bodyIdleTimeout: 1000 });
    const token = await mint(server.socketPath);
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/v1/events`, ['lxss.events.v1', `lxss.token.${token}`]);
    await once(ws, 'open');
    t.after(() => ws.close());
    const silent = await idleConnection(server.port);
    const partial = await rawRequest(server.port, `GET /v1/version HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n`);
    await Promise.all([silent.closed, partial.closed]);
    assert.match(partial.received(), /^HTTP\/1\.1 408 /, 'headers that never end: 408');
    // Both outlived every timeout above by now; a second silent connection, opened after, outlives it too.
    const later = await idleConnection(server.port);
    await later.closed;
    assert.equal(ws.readyState, WebSocket.OPEN, 'the WebSocket is still open');
    const ping = once(ws, 'pong');
    ws.ping();
    await ping;
  });
});
