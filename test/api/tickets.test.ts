// One-time secrets for browsers: tickets in place of the bearer header on the two routes a page can only give a
// URL to (an export download, an EventSource), and login codes that `lxssd open` turns into a dashboard token.
// Each is good once, for its own route and SID, and dies with the token that made it.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { get, type IncomingMessage } from 'node:http';
import { once } from 'node:events';
import { promisify } from 'node:util';
import request from 'supertest';
import { lxssd } from '../helpers/binary.js';
import { localRequest } from '../helpers/local-client.js';
import { tokenOf } from '../helpers/process-client.js';
import { busyboxRootfsTar } from '../helpers/rootfs.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { curlLocalAs, ensureUser, isRoot } from '../helpers/users.js';
import { lxss } from '../helpers/lxss-cli.js';

const run = promisify(execFile);

async function ticket(server: TestServer, token: string, body: unknown): Promise<string> {
  const minted = await request(server.url).post('/v1/tickets').set('authorization', `Bearer ${token}`).send(body as object);
  assert.equal(minted.status, 201, JSON.stringify(minted.body));
  assert.match(minted.body.ticket, /^lxsst_[A-Za-z0-9_-]{43}$/);
  assert.ok(Date.parse(minted.body.expiresAt) - Date.now() <= 60_000, 'good for a minute at most');
  return minted.body.ticket as string;
}

/** A GET with no header at all, as a browser's download link or EventSource makes it. */
function bare(server: TestServer, path: string, accept?: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    get(`${server.url}${path}`, { headers: accept ? { accept } : {} }, resolve).on('error', reject);
  });
}

async function importBusybox(server: TestServer, name: string): Promise<void> {
  const imported = await lxss(['--import', name, `${server.stateDir}/../${name}`, await busyboxRootfsTar()], { LXSS_SOCKET: server.socketPath });
  assert.equal(imported.code, 0, imported.stderr);
}

describe('tickets', { skip: !isRoot && 'needs root for namespaces' }, () => {
  it('download an export once, only the distribution and format they were made for, and die with their token', { timeout: 120_000 }, async (t) => {
    const server = await startServer(t);
    await importBusybox(server, 'one');
    await importBusybox(server, 'two');
    const token = await tokenOf(server);

    const export1 = await ticket(server, token, { purpose: 'export', distro: 'one', format: 'tar.gz' });
    const downloaded = await request(server.url).get(`/v1/distributions/one/export?format=tar.gz&ticket=${export1}`).buffer(true).parse((res, done) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => done(null, Buffer.concat(chunks)));
    });
    assert.equal(downloaded.status, 200);
    assert.equal(downloaded.headers['content-disposition'], 'attachment; filename="one.tar.gz"');
    assert.deepEqual([...(downloaded.body as Buffer).subarray(0, 2)], [0x1f, 0x8b]);
    const again = await request(server.url).get(`/v1/distributions/one/export?format=tar.gz&ticket=${export1}`);
    assert.equal(again.status, 401, 'used once, then never again');
    assert.equal(again.body.code, 'ERROR_NOT_AUTHENTICATED');

    const forOne = await ticket(server, token, { purpose: 'export', distro: 'one' });
    assert.equal((await request(server.url).get(`/v1/distributions/two/export?ticket=${forOne}`)).status, 403, 'another distribution');
    const tarOnly = await ticket(server, token, { purpose: 'export', distro: 'one', format: 'tar' });
    assert.equal((await request(server.url).get(`/v1/distributions/one/export?format=tar.xz&ticket=${tarOnly}`)).status, 403, 'another format');
    const elsewhere = await ticket(server, token, { purpose: 'export', distro: 'one' });
    const listed = await request(server.url).get(`/v1/distributions?ticket=${elsewhere}`);
    assert.equal(listed.status, 401, 'a route that takes no tickets');
    const eventsTicket = await ticket(server, token, { purpose: 'events' });
    assert.equal((await request(server.url).get(`/v1/distributions/one/export?ticket=${eventsTicket}`)).status, 401, 'a ticket for another purpose');

    assert.equal((await request(server.url).post('/v1/tickets').set('authorization', `Bearer ${token}`).send({ purpose: 'export' })).status, 400, 'an export ticket names its distro');
    assert.equal((await request(server.url).post('/v1/tickets').set('authorization', `Bearer ${token}`).send({ purpose: 'export', distro: 'nope' })).status, 404);
    assert.equal((await request(server.url).post('/v1/tickets').send({ purpose: 'events' })).status, 401, 'only a caller may make one');

    const minted = await localRequest(server.socketPath, 'POST', '/v1/tokens', { label: 'short' });
    const doomed = await ticket(server, minted.body.token, { purpose: 'export', distro: 'one' });
    assert.equal((await localRequest(server.socketPath, 'DELETE', `/v1/tokens/${minted.body.info.id}`)).status, 204);
    assert.equal((await request(server.url).get(`/v1/distributions/one/export?ticket=${doomed}`)).status, 401, 'revoking the token voids its tickets');
  });

  it('open an EventSource, which ends when the token that made the ticket is revoked', { timeout: 60_000 }, async (t) => {
    const server = await startServer(t);
    const minted = await localRequest(server.socketPath, 'POST', '/v1/tokens', { label: 'page' });
    const events = await ticket(server, minted.body.token, { purpose: 'events' });
    const stream = await bare(server, `/v1/events?ticket=${events}`, 'text/event-stream');
    assert.equal(stream.statusCode, 200);
    assert.match(String(stream.headers['content-type']), /^text\/event-stream/);
    let text = '';
    stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
    const ended = once(stream, 'end');
    assert.equal((await localRequest(server.socketPath, 'DELETE', `/v1/tokens/${minted.body.info.id}`)).status, 204);
    await ended;
    assert.match(text, /lxssd events/);
    const reused = await bare(server, `/v1/events?ticket=${events}`, 'text/event-stream');
    assert.equal(reused.statusCode, 401);
    reused.resume();
  });
});

describe('login codes', { skip: !isRoot && 'needs root to act as another user' }, () => {
  it('are minted on the socket only, bound to their user, and exchanged once for a dashboard token', { timeout: 60_000 }, async (t) => {
    const server = await startServer(t);
    const token = await tokenOf(server);
    const overTcp = await request(server.url).post('/v1/login-codes').set('authorization', `Bearer ${token}`);
    assert.equal(overTcp.status, 403, 'a token cannot make a login code (which is worth a token)');

    const alice = await ensureUser('alice');
    const minted = await curlLocalAs(alice, server.socketPath, 'POST', '/v1/login-codes');
    assert.equal(minted.status, 201);
    const { code, url } = minted.json as { code: string; url: string };
    assert.match(code, /^lxssl_[A-Za-z0-9_-]{43}$/);
    assert.equal(url, `http://127.0.0.1:${server.port}/#login=${code}`, 'the code rides in the fragment');

    const exchanged = await request(server.url).post('/v1/login-codes/exchange').send({ code });
    assert.equal(exchanged.status, 201);
    const lifetime = Date.parse(exchanged.body.expiresAt) - Date.now();
    assert.ok(lifetime > 11.9 * 3600_000 && lifetime <= 12 * 3600_000, `a bounded lifetime: ${lifetime} ms`);
    const session = await request(server.url).get('/v1/session').set('authorization', `Bearer ${exchanged.body.token}`);
    assert.equal(session.body.sid, `S-1-22-1-${alice.uid}`, 'the token is the minting user’s');
    const tokens = await curlLocalAs(alice, server.socketPath, 'GET', '/v1/tokens');
    assert.ok((tokens.json as { tokens: Array<{ label: string }> }).tokens.some((t) => t.label === 'dashboard'), 'labelled dashboard');

    const second = await request(server.url).post('/v1/login-codes/exchange').send({ code });
    assert.equal(second.status, 401, 'a code is good once');
    assert.equal(second.body.code, 'ERROR_NOT_AUTHENTICATED');
    assert.equal((await request(server.url).post('/v1/login-codes/exchange').send({ code: 'lxssl_nope' })).status, 401);
  });

  it('come from `lxssd open`, which prints the dashboard URL', { timeout: 60_000 }, async (t) => {
    const server = await startServer(t);
    const { stdout } = await run(process.execPath, [lxssd, 'open', '--socket', server.socketPath, '--no-browser'], { env: { PATH: process.env.PATH } });
    const match = /^http:\/\/127\.0\.0\.1:(\d+)\/#login=(lxssl_[A-Za-z0-9_-]{43})\n$/.exec(stdout);
    assert.ok(match, stdout);
    assert.equal(Number(match[1]), server.port);
    assert.equal((await request(server.url).post('/v1/login-codes/exchange').send({ code: match[2] })).status, 201);
  });
});
