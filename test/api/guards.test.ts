// Browser-facing guards: DNS rebinding (Host) and cross-site requests (Origin), on HTTP and WebSocket [S3].

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import WebSocket from 'ws';
import { localRequest } from '../helpers/local-client.js';
import { startServer, type TestServer } from '../helpers/server.js';

async function rootToken(server: TestServer): Promise<string> {
  const minted = await localRequest(server.socketPath, 'POST', '/v1/tokens', { label: 'guards' });
  assert.equal(minted.status, 201);
  return minted.body.token as string;
}

/** Resolves with the HTTP status of a refused upgrade, or 101 when the upgrade went through. */
function upgradeStatus(url: string, options: { origin?: string; protocols?: string[] }): Promise<{ status: number; protocol?: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, options.protocols ?? [], { origin: options.origin });
    socket.on('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      res.resume();
      socket.terminate();
    });
    socket.on('open', () => {
      resolve({ status: 101, protocol: socket.protocol });
      socket.terminate();
    });
    socket.on('error', (error) => reject(error));
  });
}

describe('Host header guard', () => {
  it('refuses a request whose Host is not a loopback authority of ours [S3]', async (t) => {
    const server = await startServer(t);
    const token = await rootToken(server);
    for (const host of ['evil.example', `evil.example:${server.port}`, `localhost6:${server.port}`, `127.0.0.1:${server.port + 1}`]) {
      const response = await request(server.url).get('/v1/session').set('host', host).set('authorization', `Bearer ${token}`);
      assert.equal(response.status, 403, `Host ${host}`);
      assert.equal(response.body.code, 'LXSSD_E_HOST_NOT_ALLOWED', `Host ${host}`);
    }
    for (const host of [`localhost:${server.port}`, `127.0.0.1:${server.port}`, `LOCALHOST:${server.port}`]) {
      const response = await request(server.url).get('/v1/session').set('host', host).set('authorization', `Bearer ${token}`);
      assert.equal(response.status, 200, `Host ${host}`);
    }
  });

  it('does not apply to the local socket, which no browser can reach', async (t) => {
    const server = await startServer(t);
    const response = await localRequest(server.socketPath, 'GET', '/v1/session', undefined, { host: 'whatever' });
    assert.equal(response.status, 200);
  });
});

describe('Origin guard', () => {
  it('refuses an HTTP request from a foreign Origin, with no CORS headers [S3]', async (t) => {
    const server = await startServer(t);
    const token = await rootToken(server);
    const foreign = await request(server.url)
      .get('/v1/session')
      .set('origin', 'http://evil.example')
      .set('authorization', `Bearer ${token}`);
    assert.equal(foreign.status, 403);
    assert.equal(foreign.body.code, 'LXSSD_E_ORIGIN_NOT_ALLOWED');
    assert.equal(foreign.headers['access-control-allow-origin'], undefined);

    const preflight = await request(server.url)
      .options('/v1/session')
      .set('origin', 'http://evil.example')
      .set('access-control-request-method', 'GET');
    assert.equal(preflight.status, 403, 'preflight from a foreign origin');

    const own = await request(server.url)
      .get('/v1/session')
      .set('origin', `http://127.0.0.1:${server.port}`)
      .set('authorization', `Bearer ${token}`);
    assert.equal(own.status, 200, 'our own origin');
  });

  it('refuses a WebSocket upgrade from a foreign Origin with 403 [S3]', async (t) => {
    const server = await startServer(t);
    const token = await rootToken(server);
    const wsUrl = `ws://127.0.0.1:${server.port}/v1/events`;
    const foreign = await upgradeStatus(wsUrl, { origin: 'http://evil.example', protocols: [`lxss.token.${token}`] });
    assert.equal(foreign.status, 403);
    const sameHostOtherPort = await upgradeStatus(wsUrl, {
      origin: `http://127.0.0.1:${server.port + 1}`,
      protocols: [`lxss.token.${token}`],
    });
    assert.equal(sameHostOtherPort.status, 403, 'another port is another origin');
  });

  it('authenticates a WebSocket upgrade by the lxss.token subprotocol and never echoes it', async (t) => {
    const server = await startServer(t);
    const token = await rootToken(server);
    const wsUrl = `ws://127.0.0.1:${server.port}/v1/events`;
    const origin = `http://localhost:${server.port}`;

    const anonymous = await upgradeStatus(wsUrl, { origin });
    assert.equal(anonymous.status, 401, 'no token');
    const wrong = await upgradeStatus(wsUrl, { origin, protocols: ['lxss.events.v1', `lxss.token.${token}x`] });
    assert.equal(wrong.status, 401, 'wrong token');
    const good = await upgradeStatus(wsUrl, { origin, protocols: ['lxss.events.v1', `lxss.token.${token}`] });
    assert.equal(good.status, 101, 'token in subprotocol');
    assert.equal(good.protocol, 'lxss.events.v1', 'the server picks the real protocol, not the token');
  });

  it('answers with a subprotocol the endpoint speaks, and refuses an offer of none of them with 400', async (t) => {
    const server = await startServer(t);
    const token = await rootToken(server);
    const wsUrl = `ws://127.0.0.1:${server.port}/v1/events`;
    const origin = `http://localhost:${server.port}`;
    const tokenProtocol = `lxss.token.${token}`;

    const picked = await upgradeStatus(wsUrl, { origin, protocols: ['chat', 'lxss.events.v1', tokenProtocol] });
    assert.deepEqual(picked, { status: 101, protocol: 'lxss.events.v1' }, 'the one it speaks, whatever the order');
    for (const protocols of [['chat'], ['lxss.stdio.v1']]) {
      const refused = await upgradeStatus(wsUrl, { origin, protocols: [...protocols, tokenProtocol] });
      assert.equal(refused.status, 400, `offered ${protocols.join(', ')}`);
    }
  });
});
