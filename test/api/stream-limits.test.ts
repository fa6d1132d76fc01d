// Each user holds at most maxStreams open WebSockets and event streams: each may buffer up to 1 MiB for a slow
// reader, so their number is what keeps the service's memory bounded.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import request from 'supertest';
import { eventsUrl, openEventSource, openEventsSocket } from '../helpers/event-client.js';
import { eventually } from '../helpers/eventually.js';
import { refusedUpgrade, tokenOf } from '../helpers/process-client.js';
import { startServer } from '../helpers/server.js';
import { isRoot } from '../helpers/users.js';

describe('stream limits', () => {
  it('holds a user to maxStreams WebSockets and event streams, and gives a place back when one ends', async (t) => {
    const server = await startServer(t, { maxStreams: 2 });
    const token = await tokenOf(server);
    const { socket } = await openEventsSocket(server, token);
    const stream = await openEventSource(server, token);
    assert.equal(stream.statusCode, 200);
    stream.resume();

    const protocols = ['lxss.events.v1', `lxss.token.${token}`];
    assert.equal(await refusedUpgrade(eventsUrl(server), protocols), 409, 'a third stream, as a WebSocket');
    const refused = await openEventSource(server, token);
    const body = JSON.parse((await refused.toArray()).join(''));
    assert.deepEqual([refused.statusCode, body.code], [409, 'LXSSD_E_TOO_MANY_STREAMS'], 'a third stream, as SSE');
    const plain = await request(server.url).get('/v1/events').set('authorization', `Bearer ${token}`);
    assert.equal(plain.status, 200, 'a plain JSON read is no stream');

    socket.close();
    await once(socket, 'close');
    const again = await eventually(() => openEventsSocket(server, token), { what: 'the closed WebSocket gave its place back' });
    stream.destroy();
    await eventually(async () => (await openEventsSocket(server, token)).socket.close(), { what: 'the ended event stream gave its place back' });
    again.socket.close();

    if (!isRoot) return;
    const other = await tokenOf(server, 'S-1-22-1-4242');
    const others = [await openEventsSocket(server, other), await openEventsSocket(server, other)];
    assert.equal(others.length, 2, 'another user has places of their own');
    for (const { socket: open } of others) open.close();
  });
});
