// The session event bus at /v1/events: JSON pages, Server-Sent Events for `curl -N`, WebSocket subscribers,
// resuming without gaps, slow subscribers cut off with their last id, and each user seeing only their own.

import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { get } from 'node:http';
import request from 'supertest';
import WebSocket from 'ws';
import { EventUnionSchema } from '../../src/routes/events.schemas.js';
import { usersWithBusybox } from '../helpers/distros.js';
import { localRequest } from '../helpers/local-client.js';
import { refusedUpgrade, tokenOf } from '../helpers/process-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { assertMatchesSchema } from '../helpers/schema.js';
import { SseReader } from '../helpers/sse.js';
import { isRoot } from '../helpers/users.js';

interface Item {
  id: number;
  type: string;
  [field: string]: unknown;
}

/** A server with root's busybox distribution `bb` imported, and a token of root's. */
async function serverWithDistro(t: TestContext): Promise<{ server: TestServer; token: string }> {
  const server = await startServer(t);
  await usersWithBusybox(t, server.socketPath, 'root');
  return { server, token: await tokenOf(server) };
}

async function events(server: TestServer, token: string, query = ''): Promise<{ events: Item[]; lastId: number }> {
  const response = await request(server.url).get(`/v1/events${query}`).set('authorization', `Bearer ${token}`);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body;
}

function runIn(server: TestServer, argv: string[]): Promise<{ id: string }> {
  return localRequest(server.socketPath, 'POST', '/v1/distributions/bb/processes', { argv }).then((response) => {
    assert.equal(response.status, 201, JSON.stringify(response.body));
    return response.body;
  });
}

/** `true` with about `bytes` of arguments: each such process makes one process-started event that large. */
function bigArgv(bytes: number): string[] {
  const piece = 'x'.repeat(100_000);
  return ['true', ...Array.from({ length: Math.ceil(bytes / piece.length) }, () => piece)];
}

/** Opens a WebSocket subscription and collects its items. */
async function subscribe(server: TestServer, token: string, query = '') {
  const socket = new WebSocket(`ws://127.0.0.1:${server.port}/v1/events${query}`, ['lxss.events.v1', `lxss.token.${token}`]);
  const items: Item[] = [];
  const waiters = new Set<() => void>();
  socket.on('message', (data: Buffer, isBinary: boolean) => {
    assert.equal(isBinary, false, 'events are text frames');
    items.push(JSON.parse(data.toString()));
    for (const waiter of [...waiters]) waiter();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const waitFor = (match: (item: Item) => boolean) =>
    new Promise<Item>((resolve) => {
      const check = () => {
        const found = items.find(match);
        if (found) {
          waiters.delete(check);
          resolve(found);
        }
      };
      waiters.add(check);
      check();
    });
  return { socket, items, closed, waitFor };
}

function assertConsecutive(items: Item[], after: number): void {
  items.forEach((item, index) => assert.equal(item.id, after + 1 + index, `item ${index} has id ${after + 1 + index}`));
}

describe('GET /v1/events', () => {
  it('pages the kept events as JSON, each valid by the published schema, ids one apart', async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces');
    const { server, token } = await serverWithDistro(t);
    const run = await localRequest(server.socketPath, 'POST', '/v1/distributions/bb/run', { argv: ['sh', '-c', 'exit 3'] });
    assert.equal(run.body.exitCode, 3);

    const page = await events(server, token);
    for (const item of page.events) assertMatchesSchema(EventUnionSchema, item);
    assertConsecutive(page.events, 0);
    assert.equal(page.lastId, page.events.at(-1)?.id);
    const types = page.events.map((item) => item.type);
    for (const type of ['distribution-registered', 'vm-started', 'instance-started', 'process-started', 'process-exited']) {
      assert.ok(types.includes(type), `${type} in ${types.join(', ')}`);
    }
    const exited = page.events.find((item) => item.type === 'process-exited')!;
    assert.equal(exited.exitCode, 3);
    const started = page.events.find((item) => item.type === 'process-started')!;
    assert.equal(started.processId, exited.processId);
    assert.ok(started.id < exited.id);

    assert.deepEqual((await events(server, token, `?since=${page.lastId - 1}`)).events, [page.events.at(-1)]);
    assert.deepEqual((await events(server, token, `?process=${exited.processId}`)).events, [started, exited]);

    for (const [query, headers] of [
      ['?since=-1', {}],
      ['?since=x', {}],
      ['?bogus=1', {}],
      ['', { 'last-event-id': 'abc' }],
    ] as const) {
      const bad = await request(server.url).get(`/v1/events${query}`).set('authorization', `Bearer ${token}`).set(headers);
      assert.equal(bad.status, 400, `${query} ${JSON.stringify(headers)}`);
      assert.equal(bad.body.code, 'E_INVALIDARG');
    }
  });

  it('streams Server-Sent Events to `curl -N`, with exit codes, and resumes from Last-Event-ID', async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces');
    const { server, token } = await serverWithDistro(t);
    const curl = spawn('curl', ['-N', '-sS', '-H', 'Accept: text/event-stream', '-H', `Authorization: Bearer ${token}`, `${server.url}/v1/events`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.after(() => curl.kill());
    const stream = new SseReader(curl.stdout);
    await stream.waitForComment('lxssd events after id');

    const { id } = await runIn(server, ['sh', '-c', 'echo hi; exit 7']);
    const exited = await stream.waitFor((message) => message.event === 'process-exited' && message.data.includes(id));
    const started = stream.messages.find((message) => message.event === 'process-started')!;
    assert.ok(started, 'process-started came before process-exited');
    assert.deepEqual(
      [JSON.parse(started.data).processId, JSON.parse(exited.data).processId, JSON.parse(exited.data).exitCode],
      [id, id, 7],
    );
    assert.equal(exited.id, String(JSON.parse(exited.data).id), 'the SSE id is the event id');
    assert.equal(Number(exited.id), Number(started.id) + 1);

    // An EventSource reconnecting sends Last-Event-ID: it gets exactly what came after.
    const resumed = await new Promise<SseReader>((resolve, reject) =>
      get(
        `${server.url}/v1/events`,
        { headers: { accept: 'text/event-stream', authorization: `Bearer ${token}`, 'last-event-id': String(Number(started.id) - 1) } },
        (response) => {
          assert.equal(response.statusCode, 200);
          assert.match(String(response.headers['content-type']), /^text\/event-stream/);
          t.after(() => response.destroy());
          resolve(new SseReader(response));
        },
      ).on('error', reject),
    );
    const replayed = await resumed.waitFor((message) => message.event === 'process-exited');
    assert.deepEqual(resumed.messages.slice(0, 2), [started, replayed]);
  });

  it('ends event streams cleanly when the service closes: SSE with a complete response, WebSocket with 1001 [R4]', async (t) => {
    const server = await startServer(t);
    const token = await tokenOf(server);
    const curl = spawn('curl', ['-N', '-sS', '-H', 'Accept: text/event-stream', '-H', `Authorization: Bearer ${token}`, `${server.url}/v1/events`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.after(() => curl.kill());
    const exited = new Promise<number | null>((resolve) => curl.on('exit', (code) => resolve(code)));
    await new SseReader(curl.stdout).waitForComment('lxssd events after id');
    const subscriber = await subscribe(server, token);
    await server.app.close();
    assert.equal(await exited, 0, 'curl saw a complete response');
    assert.deepEqual(await subscriber.closed, { code: 1001, reason: 'lxssd is shutting down' });
  });

  it('streams over a WebSocket and resumes with ?since', async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces');
    const { server, token } = await serverWithDistro(t);
    const live = await subscribe(server, token);
    assert.equal(live.socket.protocol, 'lxss.events.v1');
    const { id } = await runIn(server, ['sh', '-c', 'exit 5']);
    const exited = await live.waitFor((item) => item.type === 'process-exited' && item.processId === id);
    assert.equal(exited.exitCode, 5);
    for (const item of live.items) assertMatchesSchema(EventUnionSchema, item);
    assertConsecutive(live.items, live.items[0]!.id - 1);
    assert.ok(live.items.some((item) => item.type === 'process-started' && item.processId === id));

    const replay = await subscribe(server, token, '?since=0');
    const again = await replay.waitFor((item) => item.id === exited.id);
    assert.deepEqual(again, exited);
    assertConsecutive(replay.items, 0);
    live.socket.close();
    replay.socket.close();
  });

  it('closes a WebSocket subscriber that falls behind with 4008 and its last id; it resumes from there', async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces');
    const { server, token } = await serverWithDistro(t);
    const slow = await subscribe(server, token);
    slow.socket.pause(); // reads nothing while the events pile up
    // ~24 MiB of events: more than the kernel's socket buffers and the 1 MiB the service lets a subscriber lag.
    for (let i = 0; i < 30; i++) await runIn(server, bigArgv(800_000));
    slow.socket.resume();
    const lastProcess = (await runIn(server, ['true'])).id;
    // Either the service cut the subscriber off, or (a failure) it delivered everything up to the last event.
    const closed = await Promise.race([
      slow.closed,
      slow.waitFor((item) => item.type === 'process-exited' && item.processId === lastProcess).then(() => ({ code: 0, reason: '' })),
    ]);
    assert.equal(closed.code, 4008, 'closed as too slow');
    const { lastId } = JSON.parse(closed.reason) as { lastId: number };
    assert.equal(lastId, slow.items.at(-1)?.id ?? 0, 'the reason names the last event delivered');
    assertConsecutive(slow.items, slow.items[0]?.id ? slow.items[0].id - 1 : 0);

    const resumed = await subscribe(server, token, `?since=${lastId}`);
    const first = await resumed.waitFor(() => true);
    // Next comes the very next event, or an explicit marker for those no longer kept: never a silent gap.
    if (first.type === 'events-lost') assert.equal(first.firstLostId, lastId + 1);
    else assert.equal(first.id, lastId + 1);
    resumed.socket.close();
  });

  it('says which events it no longer keeps instead of skipping them', async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces');
    const { server, token } = await serverWithDistro(t);
    // The bus keeps 4 MiB of events: six ~0.8 MiB ones push the first events out.
    for (let i = 0; i < 6; i++) await runIn(server, bigArgv(800_000));
    const page = await events(server, token);
    const [lost, ...kept] = page.events;
    assert.equal(lost?.type, 'events-lost');
    assert.equal(lost.firstLostId, 1);
    assert.equal(lost.lastLostId, lost.id);
    assertConsecutive(kept, lost.id);
    assertMatchesSchema(EventUnionSchema, lost);
  });

  it("shows each user only their own session's events [S4]", async (t) => {
    if (!isRoot) return t.skip('needs root for users and namespaces');
    const server = await startServer(t);
    const [alice, bob] = await usersWithBusybox(t, server.socketPath, 'alice', 'bob');
    const [aliceToken, bobToken] = await Promise.all([
      tokenOf(server, `S-1-22-1-${alice.uid}`),
      tokenOf(server, `S-1-22-1-${bob.uid}`),
    ]);
    const bobsRun = await request(server.url)
      .post('/v1/distributions/bb/run')
      .set('authorization', `Bearer ${bobToken}`)
      .send({ argv: ['sh', '-c', 'exit 4'] });
    assert.equal(bobsRun.status, 200, JSON.stringify(bobsRun.body));
    const bobsProcess = (await events(server, bobToken)).events.find((item) => item.type === 'process-exited')!;
    assert.equal(bobsProcess.exitCode, 4);
    assert.equal((await events(server, bobToken, `?process=${bobsProcess.processId}`)).events.length, 2, 'bob sees his');

    // Alice's token: bob's process, its stdio and its events are simply not there for her.
    const bobsId = String(bobsProcess.processId);
    for (const path of [`/v1/processes/${bobsId}`, `/v1/events?process=${bobsId}`]) {
      const foreign = await request(server.url).get(path).set('authorization', `Bearer ${aliceToken}`);
      assert.equal(foreign.status, 404, path);
      assert.equal(foreign.body.code, 'ERROR_NOT_FOUND', path);
    }
    for (const [path, protocol] of [
      [`/v1/processes/${bobsId}/stdio`, 'lxss.stdio.v1'],
      [`/v1/events?process=${bobsId}`, 'lxss.events.v1'],
    ] as const) {
      const status = await refusedUpgrade(`ws://127.0.0.1:${server.port}${path}`, [protocol, `lxss.token.${aliceToken}`]);
      assert.equal(status, 404, `WebSocket ${path}`);
    }
    const alices = await events(server, aliceToken);
    assert.ok(alices.events.length > 0, 'alice has her own events');
    assert.ok(
      alices.events.every((item) => item.processId === undefined),
      'none of bob’s process events reach alice',
    );
    assert.ok(alices.events.every((item) => item.type !== 'process-exited'));
  });
});
