// S8, authentication failures: an attacker on the loopback (a web page's <img> tags, a local user's script)
// floods bad tokens from 127.0.0.1 and from all over 127/8. Failures are slowed (429 with Retry-After) per
// address and for every address together; a valid token is never refused, whatever the flood.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import WebSocket from 'ws';
import { localRequest } from '../helpers/local-client.js';
import { startServer } from '../helpers/server.js';
import { tcpRequest } from '../helpers/tcp.js';

async function mint(socketPath: string): Promise<string> {
  const minted = await localRequest(socketPath, 'POST', '/v1/tokens', {});
  assert.equal(minted.status, 201, JSON.stringify(minted.body));
  return minted.body.token as string;
}

/** A bad token of the real shape, so only its secret is wrong. */
const badToken = (i: number) => `lxss_${'0'.repeat(16)}_${String(i).padStart(43, 'A')}`;

describe('the authentication failure limiter [S8]', () => {
  it('never refuses a valid token during a flood of bad ones from the same and from other 127/8 addresses', async (t) => {
    const server = await startServer(t, { authFailureLimit: 5, authFailureGlobalLimit: 20, authFailureWindowMs: 600_000 });
    const token = await mint(server.socketPath);
    const statuses = new Map<number, number>();
    const sources = ['127.0.0.1', ...Array.from({ length: 40 }, (_, i) => `127.${i + 1}.0.${i + 2}`)];

    for (let round = 0; round < 10; round++) {
      const flood = sources.map((localAddress, i) =>
        tcpRequest(server.port, 'GET', '/v1/session', { token: badToken(round * 100 + i), localAddress }),
      );
      const valid = [
        tcpRequest(server.port, 'GET', '/v1/session', { token }),
        tcpRequest(server.port, 'GET', '/v1/distributions', { token, localAddress: '127.0.0.1' }),
        tcpRequest(server.port, 'GET', '/v1/session', { token, localAddress: '127.200.0.1' }),
      ];
      for (const response of await Promise.all(flood)) statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      for (const [i, response] of (await Promise.all(valid)).entries()) {
        assert.equal(response.status, 200, `round ${round}, valid request ${i}: ${JSON.stringify(response.body)}`);
      }
    }
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/v1/events`, ['lxss.events.v1', `lxss.token.${token}`], {
      localAddress: '127.0.0.1',
    });
    await once(ws, 'open');
    ws.close();

    assert.equal(statuses.get(401), 20, 'the global bucket let exactly its 20 failures through as 401');
    assert.equal(statuses.get(429), 10 * sources.length - 20, 'every other failure was slowed with 429');
  });

  it('answers a failure over the limit with 429, Retry-After and a closed connection, and counts 127/8 together', async (t) => {
    const server = await startServer(t, { authFailureLimit: 3, authFailureGlobalLimit: 6, authFailureWindowMs: 600_000 });
    const fromOne = [];
    for (let i = 0; i < 4; i++) fromOne.push(await tcpRequest(server.port, 'GET', '/v1/session', { token: badToken(i), localAddress: '127.0.0.5' }));
    assert.deepEqual(fromOne.map((r) => r.status), [401, 401, 401, 429], 'one address: three failures, then slowed');
    const limited = fromOne[3]!;
    assert.equal(limited.body.code, 'LXSSD_E_TOO_MANY_AUTH_FAILURES');
    assert.ok(Number(limited.headers['retry-after']) >= 1, 'Retry-After');
    assert.equal(limited.headers.connection, 'close', 'each further attempt costs a new connection');

    const hopping = [];
    for (let i = 0; i < 5; i++) {
      hopping.push(await tcpRequest(server.port, 'GET', '/v1/session', { token: badToken(10 + i), localAddress: `127.0.${i + 10}.1` }));
    }
    assert.deepEqual(hopping.map((r) => r.status), [401, 401, 429, 429, 429], 'new addresses share the global six (four were used)');
    assert.match(hopping[2]!.body.detail, /on this service/);
    assert.equal((await localRequest(server.socketPath, 'GET', '/v1/session')).status, 200, 'the local socket is never limited');
    const noToken = await tcpRequest(server.port, 'GET', '/v1/version', { localAddress: '127.0.0.5' });
    assert.equal(noToken.status, 200, 'public routes are not limited');
  });
});
