// S10, descriptors: no client can take the descriptors the service needs for its own work, out of
// descriptors is a 503 and never a crash, and connections are capped per peer and in total, unauthenticated
// idle ones closed first. Written as an attacker would: idle sockets from many 127/8 addresses, busy
// authenticated streams, and the service's own descriptor limit pulled down under it with prlimit.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { Agent, get as httpGet, request as httpRequest, type IncomingMessage } from 'node:http';
import { readdir } from 'node:fs/promises';
import { promisify } from 'node:util';
import { limitLeaving } from '../helpers/proc.js';
import { usersWithBusybox } from '../helpers/distros.js';
import { eventually } from '../helpers/eventually.js';
import { localRequest, type LocalResponse } from '../helpers/local-client.js';
import { startServer } from '../helpers/server.js';
import { idleConnection, type IdleConnection, serveProcess, tcpRequest } from '../helpers/tcp.js';
import { ensureUser, isRoot } from '../helpers/users.js';

const run = promisify(execFile);

/** Descriptor numbers open in process `pid`. */
async function openFds(pid: number): Promise<number[]> {
  return (await readdir(`/proc/${pid}/fd`)).map(Number);
}


/** Sets the soft RLIMIT_NOFILE of `pid` (only the soft one: raising a hard limit again needs a capability). */
function setSoftLimit(pid: number, files: number | string) {
  return run('prlimit', [`--pid=${pid}`, `--nofile=${files}:`]);
}

async function hardLimit(pid: number): Promise<string> {
  const { stdout } = await run('prlimit', [`--pid=${pid}`, '--nofile', '--output=HARD', '--noheadings']);
  return stdout.trim();
}

/** Requests over one kept-alive local-socket connection: what a client already connected can still ask. */
function keptConnection(socketPath: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const send = (method: string, path: string, body?: unknown): Promise<LocalResponse> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = httpRequest(
        {
          socketPath,
          agent,
          method,
          path,
          headers: { host: 'localhost', ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : null });
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  return { send, close: () => agent.destroy() };
}

/** An event stream held open with `token` on a connection of its own: a busy, authenticated connection. */
function openStream(port: number, token: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) =>
    httpGet(
      { host: '127.0.0.1', port, path: '/v1/events', agent: false, headers: { host: `127.0.0.1:${port}`, accept: 'text/event-stream', authorization: `Bearer ${token}` } },
      resolve,
    ).on('error', reject),
  );
}

async function mint(socketPath: string, sid?: string): Promise<string> {
  const minted = await localRequest(socketPath, 'POST', '/v1/tokens', sid === undefined ? {} : { sid });
  assert.equal(minted.status, 201, JSON.stringify(minted.body));
  return minted.body.token as string;
}

/** Opens `count` idle connections one after another, from addresses 127.0.<n>.<m>. */
async function idleFlood(port: number, count: number, firstOctet = 10): Promise<IdleConnection[]> {
  const connections: IdleConnection[] = [];
  for (let i = 0; i < count; i++) connections.push(await idleConnection(port, `127.${firstOctet}.${Math.floor(i / 250)}.${(i % 250) + 1}`));
  return connections;
}

const openCount = (connections: IdleConnection[]) => connections.filter((c) => !c.socket.destroyed && !c.socket.closed).length;

describe('descriptors and connections [S10]', () => {
  it('keeps a reserve of descriptors from idle connections: a spawn and a new client still work, and it stays up', { timeout: 180_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces and prlimit');
    const service = await serveProcess(t, { maxConnections: 100_000, maxConnectionsPerPeer: 100_000 });
    const pid = service.child.pid!;
    await usersWithBusybox(t, service.socketPath, 'root');
    const token = await mint(service.socketPath);
    const hard = await hardLimit(pid);
    t.after(() => setSoftLimit(pid, hard).catch(() => undefined));

    // Room for 150 more descriptors, of which the service keeps 64 (its minimum reserve) for itself.
    const limit = limitLeaving(await openFds(pid), 150);
    await setSoftLimit(pid, limit);
    const flood = await idleFlood(service.port, 400);
    t.after(() => flood.forEach((c) => c.socket.destroy()));
    assert.ok(service.alive(), 'the service survived the flood');
    await eventually(async () => {
      const open = (await openFds(pid)).length;
      assert.ok(open <= limit - 64 + 2, `connections stayed out of the reserve (${open} open, limit ${limit})`);
    });
    await eventually(() => {
      const held = openCount(flood);
      assert.ok(held > 0 && held <= 150 - 64 + 2, `some idle connections are held, never more than the room outside the reserve (${held})`);
    });

    const ran = await localRequest(service.socketPath, 'POST', '/v1/distributions/bb/run', { argv: ['echo', 'still here'] });
    assert.equal(ran.status, 200, `a process (helpers, pipes) still starts: ${JSON.stringify(ran.body)}`);
    assert.equal(ran.body.stdout, 'still here\n');
    const session = await tcpRequest(service.port, 'GET', '/v1/session', { token });
    assert.equal(session.status, 200, 'a new TCP client is served: the oldest idle connection made room');
    const more = await idleFlood(service.port, 100, 11);
    t.after(() => more.forEach((c) => c.socket.destroy()));
    assert.ok(flood.slice(0, 10).every((c) => c.socket.destroyed || c.socket.closed), 'the oldest idle ones went first');

    for (const connection of [...flood, ...more]) connection.socket.destroy();
    await setSoftLimit(pid, hard);
    assert.equal((await tcpRequest(service.port, 'GET', '/v1/session', { token })).status, 200, 'after the flood');
    assert.ok(service.alive(), 'and the service is still up');
  });

  it('answers 503 when a helper cannot be spawned for want of descriptors, leaks none, and recovers', { timeout: 180_000 }, async (t) => {
    if (!isRoot) return t.skip('needs root for namespaces and prlimit');
    const service = await serveProcess(t);
    const pid = service.child.pid!;
    await usersWithBusybox(t, service.socketPath, 'root');
    const hard = await hardLimit(pid);
    t.after(() => setSoftLimit(pid, hard).catch(() => undefined));
    const client = keptConnection(service.socketPath);
    t.after(() => client.close());
    assert.equal((await client.send('GET', '/v1/session')).status, 200, 'the connection is made before the limit comes down');

    // Room for no, one, two or three descriptors: starting an instance spawns a helper with four pipes.
    for (const room of [0, 1, 2, 3]) {
      await client.send('DELETE', '/v1/distributions/bb/instance');
      const before = await openFds(pid);
      await setSoftLimit(pid, limitLeaving(before, room));
      const started = await client.send('POST', '/v1/distributions/bb/instance');
      assert.deepEqual([started.status, started.body.code], [503, 'LXSSD_E_OUT_OF_RESOURCES'], `room for ${room}: ${JSON.stringify(started.body)}`);
      assert.equal(started.headers['retry-after'], '1', `room for ${room}: Retry-After`);
      const ran = await client.send('POST', '/v1/distributions/bb/run', { argv: ['true'] });
      assert.equal(ran.status, 503, `room for ${room}: a run (which would start the instance) too: ${JSON.stringify(ran.body)}`);
      assert.ok(service.alive(), `room for ${room}: the service is up`);
      await setSoftLimit(pid, hard);
      await eventually(async () => assert.ok((await openFds(pid)).length <= before.length, `room for ${room}: nothing leaked`));
    }

    const started = await client.send('POST', '/v1/distributions/bb/instance');
    assert.ok([200, 201].includes(started.status), `with descriptors again, the instance starts: ${JSON.stringify(started.body)}`);
    const ran = await client.send('POST', '/v1/distributions/bb/run', { argv: ['echo', 'ok'] });
    assert.equal(ran.body.stdout, 'ok\n');
  });

  it('caps connections per peer: a user over its cap gets 503, while other users and addresses are served', async (t) => {
    const server = await startServer(t, { maxConnectionsPerPeer: 4 });
    const alice = isRoot ? await ensureUser('alice') : undefined;
    if (!alice) return t.skip('needs root to mint a token for another user');
    const aliceToken = await mint(server.socketPath, `S-1-22-1-${alice.uid}`);
    const rootToken = await mint(server.socketPath);

    const streams = await Promise.all([0, 1, 2, 3].map(() => openStream(server.port, aliceToken)));
    t.after(() => streams.forEach((stream) => stream.destroy()));
    for (const [i, stream] of streams.entries()) assert.equal(stream.statusCode, 200, `alice's stream ${i}`);
    const refused = await tcpRequest(server.port, 'GET', '/v1/session', { token: aliceToken });
    assert.deepEqual([refused.status, refused.body.code], [503, 'LXSSD_E_OUT_OF_RESOURCES'], 'alice holds her four: a fifth is refused');
    assert.match(refused.body.detail, /too many connections/);

    assert.equal((await tcpRequest(server.port, 'GET', '/v1/session', { token: rootToken })).status, 200, 'another user, same address');
    assert.equal((await localRequest(server.socketPath, 'GET', '/v1/session')).status, 200, 'the local socket');
    assert.equal((await tcpRequest(server.port, 'GET', '/v1/version', { localAddress: '127.0.0.9' })).status, 200, 'another address');

    streams[0]!.destroy();
    await eventually(async () => assert.equal((await tcpRequest(server.port, 'GET', '/v1/session', { token: aliceToken })).status, 200), {
      what: 'alice is served again once one of hers has closed',
    });
  });

  it("closes a peer's own oldest idle connection when it opens one past its cap, and no one else's", async (t) => {
    const server = await startServer(t, { maxConnectionsPerPeer: 4 });
    const others = await Promise.all([1, 2].map(() => idleConnection(server.port, '127.0.0.3')));
    t.after(() => others.forEach((c) => c.socket.destroy()));
    const own: IdleConnection[] = [];
    for (let i = 0; i < 4; i++) own.push(await idleConnection(server.port, '127.0.0.2'));
    t.after(() => own.forEach((c) => c.socket.destroy()));
    assert.equal((await tcpRequest(server.port, 'GET', '/v1/version', { localAddress: '127.0.0.2' })).status, 200, 'the fifth is served');
    await own[0]!.closed;
    assert.equal(openCount(own.slice(1)), 3, 'only the oldest of its own went');
    assert.equal(openCount(others), 2, "another address's idle connections were not touched");
  });

  it('caps connections in total: unauthenticated idle ones are closed first, and with none left a newcomer gets 503', async (t) => {
    const server = await startServer(t, { maxConnections: 6 });
    const token = await mint(server.socketPath);
    const flood = await idleFlood(server.port, 30, 12);
    t.after(() => flood.forEach((c) => c.socket.destroy()));
    await eventually(() => assert.ok(openCount(flood) <= 6, `at most six are held (${openCount(flood)})`));
    assert.equal((await tcpRequest(server.port, 'GET', '/v1/session', { token })).status, 200, 'a client is served through the flood');

    const streams: IncomingMessage[] = [];
    for (let i = 0; i < 6; i++) streams.push(await openStream(server.port, token));
    t.after(() => streams.forEach((stream) => stream.destroy()));
    assert.ok(streams.every((stream) => stream.statusCode === 200), 'busy authenticated streams took every place');
    await eventually(() => assert.equal(openCount(flood), 0, 'every idle one was closed for them'));
    const newcomer = await idleConnection(server.port);
    await newcomer.closed;
    assert.match(newcomer.data(), /^HTTP\/1\.1 503 /, 'a newcomer is told 503');
    assert.match(newcomer.data(), /LXSSD_E_OUT_OF_RESOURCES/);
    for (const [i, stream] of streams.entries()) assert.ok(!stream.destroyed, `stream ${i} was left alone`);

    streams.pop()!.destroy();
    await eventually(async () => assert.equal((await tcpRequest(server.port, 'GET', '/v1/session', { token })).status, 200), {
      what: 'a place comes back when a connection closes',
    });
  });
});
