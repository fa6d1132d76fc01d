// Root's powers, exactly as README.md's "Root's powers" states them: root mints tokens for any SID, but only on
// the local socket (a token, root's included, never mints another); root's own calls see root's session only.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { localRequest } from '../helpers/local-client.js';
import { tokenOf } from '../helpers/process-client.js';
import { startServer } from '../helpers/server.js';
import { curlLocalAs, ensureUser, isRoot } from '../helpers/users.js';

describe("root's powers", () => {
  it('never mints a token over TCP, not even with a root token, for itself or another SID', async (t) => {
    if (!isRoot) return t.skip('the test service must see root as the local caller');
    const server = await startServer(t);
    const alice = await ensureUser('alice');
    const rootToken = await tokenOf(server);
    for (const body of [{}, { sid: `S-1-22-1-${alice.uid}` }, { sid: 'S-1-22-1-0', label: 'longer-lived' }]) {
      const response = await request(server.url).post('/v1/tokens').set('authorization', `Bearer ${rootToken}`).send(body);
      assert.equal(response.status, 403, JSON.stringify(body));
      assert.equal(response.body.code, 'E_ACCESSDENIED', JSON.stringify(body));
    }
    const everyone = await localRequest(server.socketPath, 'GET', '/v1/tokens?sid=*');
    assert.equal(everyone.body.tokens.length, 1, 'only the one minted on the socket exists');
  });

  it('mints for another SID on the local socket, and lists and revokes anyone’s tokens over TCP', async (t) => {
    if (!isRoot) return t.skip('the test service must see root as the local caller');
    const server = await startServer(t);
    const alice = await ensureUser('alice');
    const forAlice = await localRequest(server.socketPath, 'POST', '/v1/tokens', { sid: `S-1-22-1-${alice.uid}` });
    assert.equal(forAlice.status, 201);
    const alicesOwn = (await curlLocalAs(alice, server.socketPath, 'POST', '/v1/tokens', {})).json as { info: { id: string } };

    const rootToken = await tokenOf(server);
    const listed = await request(server.url).get(`/v1/tokens?sid=S-1-22-1-${alice.uid}`).set('authorization', `Bearer ${rootToken}`);
    assert.equal(listed.status, 200);
    assert.equal(listed.body.tokens.length, 2, 'both of alice’s tokens, never their secrets');
    assert.ok(listed.body.tokens.every((token: object) => !('token' in token)), 'no secret in a list');
    const revoked = await request(server.url).delete(`/v1/tokens/${alicesOwn.info.id}`).set('authorization', `Bearer ${rootToken}`);
    assert.equal(revoked.status, 204, 'root revokes a token alice minted herself');

    // Root's own calls act in root's session: alice's distributions are not root's.
    const session = await request(server.url).get('/v1/session').set('authorization', `Bearer ${rootToken}`);
    assert.equal(session.body.sid, 'S-1-22-1-0');
  });
});
