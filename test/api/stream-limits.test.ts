// Each user holds at most maxStreams open WebSockets and event streams: each may buffer up to 1 MiB for a slow
// reader, so their number is what keeps the service's memory bounded.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { get as httpGet, type IncomingMessage } from 'node:http';
import request from 'supertest';
import WebSocket from 'ws';
import { eventually } from '../helpers/eventually.js';
import { refusedUpgrade, tokenOf } from '../helpers/process-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { isRoot } from '../helpers/users.js';

function eventsUrl(server: TestServer): string {
  return `ws://127.0.0.1:${server.port}/v1/events`;
}

// (Returns an object: an async function's returned promise would be awaited in its place.)
async function openEvents(server: TestServer, token: string): Promise<{ socket: WebSocket }> {
  const socket = new WebSocket(eventsUrl(server), ['lxss.events.v1', `lxss.token.${token}`]);
  await once(socket, 'open');
  return { socket };
}

function sse(server: TestServer, token: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) =>
    httpGet(`${server.url}/v1/events`, { headers: { accept: 'text/event-stream', authorization: `Bearer ${token}` } }, resolve).on(
      'error',
      reject,
    ),
  );
}

describe('stream limits', () => {
  it('holds a user to maxStreams WebSockets and event streams, and gives a place back when one ends', async (t) => {
    const server = await startServer(t, { maxStreams: 2 });
    const token = await tokenOf(server);
    const { socket } = await openEvents(server, token);
    const stream = await sse(server, token);
    assert.equal(stream.statusCode, 200);
    stream.resume();

    const protocols = ['lxss.events.v1', `lxss.token.${token}`];
    assert.equal(await refusedUpgrade(eventsUrl(server), protocols), 409, 'a third stream, as a WebSocket');
    const refused = await sse(server, token);
    const body = JSON.parse((await refused.toArray()).join(''));
    assert.deepEqual([refused.statusCode, body.code], [409, 'LXSSD_E_TOO_MANY_STREAMS'], 'a third stream, as SSE');
    const plain = await request(server.url).get('/v1/events').set('authorization', `Bearer ${token}`);
    assert.equal(plain.status, 200, 'a plain JSON read is no stream');

    socket.close();
    await once(socket, 'close');
    const again = await eventually(() => openEvents(server, token), { what: 'the closed WebSocket gave its place back' });
    stream.destroy();
    await eventually(async () => (await openEvents(server, token)).socket.close(), { what: 'the ended event stream gave its place back' });
    again.socket.close();

    if (!isRoot) return;
    const other = await tokenOf(server, 'S-1-22-1-4242');
    const others = [await openEvents(server, other), await openEvents(server, other)];
    assert.equal(others.length, 2, 'another user has places of their own');
    for (const { socket: open } of others) open.close();
  });
});
