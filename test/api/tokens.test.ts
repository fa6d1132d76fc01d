// SID tokens end to end: minted over the local socket by real Unix users, used over TCP.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import request from 'supertest';
import { openEventSource, openEventsSocket } from '../helpers/event-client.js';
import { eventually } from '../helpers/eventually.js';
import { localRequest } from '../helpers/local-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { curlLocalAs, ensureUser, isRoot } from '../helpers/users.js';

interface Minted {
  token: string;
  info: { id: string; sid: string; label: string | null; expiresAt: string | null };
}

describe('POST /v1/tokens', () => {
  it('gives two Unix users tokens bound to their own SIDs, each identifying its user over TCP [S2]', async (t) => {
    if (!isRoot) return t.skip('needs root to create users and connect as them');
    const server = await startServer(t);
    const alice = await ensureUser('alice');
    const bob = await ensureUser('bob');

    for (const user of [alice, bob]) {
      const minted = await curlLocalAs(user, server.socketPath, 'POST', '/v1/tokens', { label: `${user.name} laptop` });
      assert.equal(minted.status, 201, `${user.name}: mint status`);
      const { token, info } = minted.json as Minted;
      assert.equal(info.sid, `S-1-22-1-${user.uid}`, `${user.name}: token SID`);
      assert.match(token, /^lxss_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/, `${user.name}: token shape (256-bit secret)`);

      const session = await request(server.url).get('/v1/session').set('authorization', `Bearer ${token}`);
      assert.equal(session.status, 200, `${user.name}: session status`);
      assert.equal(session.body.sid, `S-1-22-1-${user.uid}`, `${user.name}: session SID`);
      assert.equal(session.body.user, user.name, `${user.name}: session user name`);
      assert.equal(session.body.uid, user.uid, `${user.name}: session uid`);
      assert.equal(session.body.transport, 'tcp', `${user.name}: transport`);
      assert.equal(session.body.tokenId, info.id, `${user.name}: token id`);
      assert.equal(session.body.administrator, false, `${user.name}: not an administrator`);

      const local = await curlLocalAs(user, server.socketPath, 'GET', '/v1/session');
      assert.deepEqual(
        { sid: (local.json as { sid: string }).sid, transport: (local.json as { transport: string }).transport },
        { sid: `S-1-22-1-${user.uid}`, transport: 'local' },
        `${user.name}: the local socket knows the user without a token`,
      );
    }
  });

  it('refuses to mint over TCP for a non-root caller, and for another SID', async (t) => {
    if (!isRoot) return t.skip('needs root to create users and connect as them');
    const server = await startServer(t);
    const alice = await ensureUser('alice');
    const { token } = (await curlLocalAs(alice, server.socketPath, 'POST', '/v1/tokens', {})).json as Minted;

    const overTcp = await request(server.url).post('/v1/tokens').set('authorization', `Bearer ${token}`).send({});
    assert.equal(overTcp.status, 403);
    assert.equal(overTcp.body.code, 'E_ACCESSDENIED');

    const forRoot = await curlLocalAs(alice, server.socketPath, 'POST', '/v1/tokens', { sid: 'S-1-22-1-0' });
    assert.equal(forRoot.status, 403);
    assert.equal((forRoot.json as { code: string }).code, 'E_ACCESSDENIED');
  });

  it('lets root mint a token for another SID', async (t) => {
    if (!isRoot) return t.skip('the test service must see root as the local caller');
    const server = await startServer(t);
    const alice = await ensureUser('alice');
    const minted = await localRequest(server.socketPath, 'POST', '/v1/tokens', {
      sid: `S-1-22-1-${alice.uid}`,
      label: 'for alice',
    });
    assert.equal(minted.status, 201);
    const session = await request(server.url).get('/v1/session').set('authorization', `Bearer ${minted.body.token}`);
    assert.equal(session.body.user, 'alice');

    // What root may mint for alice, root may see and revoke; alice may not look at root's.
    const alices = await localRequest(server.socketPath, 'GET', `/v1/tokens?sid=S-1-22-1-${alice.uid}`);
    assert.deepEqual(alices.body.tokens.map((token: { id: string }) => token.id), [minted.body.info.id]);
    const everyone = await localRequest(server.socketPath, 'GET', '/v1/tokens?sid=*');
    assert.ok(everyone.body.tokens.some((token: { id: string }) => token.id === minted.body.info.id));
    const peek = await curlLocalAs(alice, server.socketPath, 'GET', '/v1/tokens?sid=S-1-22-1-0');
    assert.equal(peek.status, 403, "alice may not list root's tokens");
    assert.equal((await localRequest(server.socketPath, 'DELETE', `/v1/tokens/${minted.body.info.id}`)).status, 204);
    const after = await request(server.url).get('/v1/session').set('authorization', `Bearer ${minted.body.token}`);
    assert.equal(after.status, 401, 'revoked by root');
  });
});

describe('token lifecycle', () => {
  it('rejects revoked, expired and wrong tokens with 401 [S2]', async (t) => {
    if (!isRoot) return t.skip('needs root to create users and connect as them');
    const server = await startServer(t);
    const alice = await ensureUser('alice');
    const mint = async (body: object) =>
      (await curlLocalAs(alice, server.socketPath, 'POST', '/v1/tokens', body)).json as Minted;
    const get = (token: string) => request(server.url).get('/v1/session').set('authorization', `Bearer ${token}`);

    const revoked = await mint({ label: 'to revoke' });
    assert.equal((await get(revoked.token)).status, 200, 'works before revocation');
    const revoke = await request(server.url)
      .delete(`/v1/tokens/${revoked.info.id}`)
      .set('authorization', `Bearer ${revoked.token}`);
    assert.equal(revoke.status, 204);
    const afterRevoke = await get(revoked.token);
    assert.equal(afterRevoke.status, 401, 'revoked token');
    assert.equal(afterRevoke.body.code, 'ERROR_NOT_AUTHENTICATED');
    assert.match(String(afterRevoke.headers['content-type']), /^application\/problem\+json/);

    const expiring = await mint({ expiresInSeconds: 1 });
    assert.ok(expiring.info.expiresAt, 'expiry recorded');
    await eventually(
      async () => assert.equal((await get(expiring.token)).status, 401),
      { timeoutMs: 4000, intervalMs: 200, what: 'expired token refused' },
    );

    const good = await mint({});
    // Same id and length, one secret character changed: must not pass.
    const last = good.token.at(-1) === 'A' ? 'B' : 'A';
    const wrong = `${good.token.slice(0, -1)}${last}`;
    assert.equal(wrong.length, good.token.length);
    assert.equal((await get(wrong)).status, 401, 'wrong secret, right length');
    const randomOfSameShape = `lxss_${'0'.repeat(16)}_${'x'.repeat(43)}`;
    assert.equal((await get(randomOfSameShape)).status, 401, 'unknown id');
    assert.equal((await get(good.token)).status, 200, 'the right token still works');
  });

  it('lists the caller’s tokens without secrets, and keeps only hashes on disk, mode 0600', async (t) => {
    if (!isRoot) return t.skip('needs root to create users and connect as them');
    const server = await startServer(t);
    const alice = await ensureUser('alice');
    const bob = await ensureUser('bob');
    const minted = (await curlLocalAs(alice, server.socketPath, 'POST', '/v1/tokens', { label: 'mine' })).json as Minted;
    const bobs = (await curlLocalAs(bob, server.socketPath, 'POST', '/v1/tokens', { label: 'bobs' })).json as Minted;

    const list = await request(server.url).get('/v1/tokens').set('authorization', `Bearer ${minted.token}`);
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.body.tokens.map((token: { id: string; label: string }) => [token.id, token.label]),
      [[minted.info.id, 'mine']],
      'only alice’s own token',
    );
    assert.ok(!JSON.stringify(list.body).includes(minted.token.slice(-43)), 'no secret in the listing');

    const foreign = await request(server.url)
      .delete(`/v1/tokens/${bobs.info.id}`)
      .set('authorization', `Bearer ${minted.token}`);
    assert.equal(foreign.status, 404, 'alice cannot revoke bob’s token');

    const file = join(server.stateDir, 'tokens.json');
    assert.equal((await stat(file)).mode & 0o777, 0o600, 'token file mode');
    const content = await readFile(file, 'utf8');
    for (const secret of [minted.token, bobs.token]) {
      assert.ok(!content.includes(secret.slice(-43)), 'no secret in clear on disk');
    }
    assert.match(content, /"hash": "[0-9a-f]{64}"/, 'SHA-256 hashes on disk');
  });
});

describe('streams opened with a token', () => {
  async function eventsSocket(server: TestServer, token: string): Promise<{ closed: Promise<{ code: number; reason: string }> }> {
    return { closed: (await openEventsSocket(server, token)).closed };
  }

  /** A Server-Sent Events subscription with `token`; settles when the server ends the response. */
  async function eventSource(server: TestServer, token: string): Promise<{ ended: Promise<void> }> {
    const response = await openEventSource(server, token);
    assert.equal(response.statusCode, 200);
    response.resume();
    return { ended: once(response, 'end').then(() => undefined) };
  }

  it('closes WebSockets (4401) and ends event streams when their token is revoked or expires', async (t) => {
    if (!isRoot) return t.skip('needs root to create users and connect as them');
    const server = await startServer(t);
    const alice = await ensureUser('alice');
    const mint = async (body: object) => (await curlLocalAs(alice, server.socketPath, 'POST', '/v1/tokens', body)).json as Minted;

    const revoked = await mint({ label: 'revoked' });
    const kept = await mint({ label: 'kept' });
    const socketClosed = (await eventsSocket(server, revoked.token)).closed;
    const sseEnded = (await eventSource(server, revoked.token)).ended;
    const keptClosed = (await eventsSocket(server, kept.token)).closed;
    const revoke = await curlLocalAs(alice, server.socketPath, 'DELETE', `/v1/tokens/${revoked.info.id}`);
    assert.equal(revoke.status, 204);
    const closed = await socketClosed;
    assert.equal(closed.code, 4401);
    assert.equal(JSON.parse(closed.reason).code, 'ERROR_NOT_AUTHENTICATED');
    await sseEnded;

    const expiring = await mint({ expiresInSeconds: 1 });
    assert.equal((await (await eventsSocket(server, expiring.token)).closed).code, 4401, 'closed when the token expires');

    // The other token's stream was untouched: it ends only when the service does.
    await server.app.close();
    assert.equal((await keptClosed).code, 1001);
  });
});

describe('authentication failures', () => {
  it('rate-limits repeated failures from one address with 429 [S8]', async (t) => {
    const server = await startServer(t, { authFailureLimit: 5, authFailureWindowMs: 60_000 });
    for (let attempt = 1; attempt <= 5; attempt++) {
      const response = await request(server.url).get('/v1/session').set('authorization', 'Bearer nope');
      assert.equal(response.status, 401, `attempt ${attempt}`);
    }
    const limited = await request(server.url).get('/v1/session').set('authorization', 'Bearer nope');
    assert.equal(limited.status, 429);
    assert.equal(limited.body.code, 'LXSSD_E_TOO_MANY_AUTH_FAILURES');
    assert.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After header');

    const local = await localRequest(server.socketPath, 'GET', '/v1/session');
    assert.equal(local.status, 200, 'the local socket, where the kernel vouches, is not limited');
  });

  it('answers a missing token with 401 and a hint', async (t) => {
    const server = await startServer(t);
    const response = await request(server.url).get('/v1/session');
    assert.equal(response.status, 401);
    assert.equal(response.headers['www-authenticate'], 'Bearer realm="lxssd"');
    assert.match(response.body.detail, /lxssd token/);
  });
});
