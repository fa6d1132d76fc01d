// Secrets never reach the service log: the real binary at debug and info, requests carrying a token in the
// query string, the Authorization header and the lxss.token.* subprotocol, on good, refused and malformed
// requests; its whole stdout is searched afterwards.

import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import request from 'supertest';
import WebSocket from 'ws';
import { lxssd } from '../helpers/binary.js';
import { tokenOf } from '../helpers/process-client.js';
import { rawExchange } from '../helpers/raw-http.js';
import { sharedTempDir } from '../helpers/server.js';
import { isRoot } from '../helpers/users.js';

interface Running {
  url: string;
  port: number;
  socketPath: string;
  /** stops the service and resolves with everything it wrote */
  stop(): Promise<string>;
}

async function serveLogging(t: TestContext, level: string): Promise<Running> {
  const dir = await sharedTempDir('lxssd-log-');
  t.after(() => rm(dir, { recursive: true, force: true }));
  const socketPath = join(dir, 'lxssd.sock');
  const child = spawn(
    process.execPath,
    [lxssd, 'serve', '--listen', '127.0.0.1:0', '--socket', socketPath, '--state-dir', join(dir, 'state'), '--log-level', level],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit');
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const url = await new Promise<string>((resolve, reject) => {
    const look = () => {
      const ready = output
        .split('\n')
        .map((line) => {
          try {
            return JSON.parse(line) as { msg?: string; url?: string };
          } catch {
            return {};
          }
        })
        .find((entry) => entry.msg === 'lxssd ready');
      if (ready?.url) {
        child.stdout.off('data', look);
        resolve(ready.url);
      }
    };
    child.stdout.on('data', look);
    child.once('exit', (code) => reject(new Error(`lxssd exited (${code}) before it was ready: ${output}`)));
  });
  return {
    url,
    port: Number(new URL(url).port),
    socketPath,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      return output;
    },
  };
}

/** Sends each secret the ways a client might, then returns the log and the secrets. */
async function exerciseSecrets(service: Running): Promise<{ log: string; secrets: string[] }> {
  const token = await tokenOf(service);
  const secrets = [token, 'QUERYTOKEN0123456789', 'TICKETSECRET987654321', 'LOGINCODE55555555', 'CASEDTOKEN777777', 'BOGUSTOKEN246810'];
  const bearer = { authorization: `Bearer ${token}` };

  const queries = [
    `/v1/version?token=${secrets[1]}`,
    `/v1/session?ticket=${secrets[2]}&x=1`,
    `/v1/events?since=0&code=${secrets[3]}`,
    `/v1/version?TOKEN=${secrets[4]}`,
    `/v1/version?%74oken=${secrets[4]}`,
    // Refused (404): lines at info too.
    `/v1/nothing?ticket=${secrets[2]}&x=1`,
    `/v1/nothing?%74oken=${secrets[4]}`,
  ];
  for (const path of queries) await request(service.url).get(path).set(bearer);
  assert.equal((await request(service.url).get('/v1/session').set(bearer)).status, 200, 'a good token over TCP');
  assert.equal((await request(service.url).get('/v1/session').set('authorization', `Bearer ${secrets[5]}`)).status, 401);
  assert.equal((await request(service.url).get(`/v1/nothing?token=${secrets[1]}`).set(bearer)).status, 404);

  // The token as a WebSocket subprotocol: an accepted upgrade, and one refused on a route that is no WebSocket.
  const socket = new WebSocket(`ws://127.0.0.1:${service.port}/v1/events`, ['lxss.events.v1', `lxss.token.${token}`]);
  await once(socket, 'open');
  socket.close();
  await once(socket, 'close');
  const refused = new WebSocket(`ws://127.0.0.1:${service.port}/v1/version`, [`lxss.token.${token}`]);
  refused.on('error', () => undefined);
  await once(refused, 'unexpected-response');
  refused.terminate();

  // Requests Node or Fastify refuse before any route: their raw bytes carry the secrets too.
  await rawExchange({ port: service.port }, `GARBAGE /?token=${secrets[1]} HTTP/1.1\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  await rawExchange(
    { port: service.port },
    `GET /v1/version HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
  );
  await rawExchange(
    { port: service.port },
    `GET /v1/distributions/%zz?token=${secrets[1]} HTTP/1.1\r\nHost: 127.0.0.1:${service.port}\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
  );
  await rawExchange(
    { port: service.port },
    `GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1:${service.port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: lxss.events.v1, lxss.token.${token}\r\n\r\n`,
  );
  return { log: await service.stop(), secrets };
}

describe('the service log', () => {
  for (const level of ['debug', 'info']) {
    it(`never holds a token, ticket, login code, Authorization or lxss.token subprotocol (at ${level})`, async (t) => {
      if (!isRoot) return t.skip('lxssd serve runs as root only');
      const service = await serveLogging(t, level);
      const { log, secrets } = await exerciseSecrets(service);
      for (const secret of secrets) {
        const line = log.split('\n').find((entry) => entry.includes(secret));
        assert.equal(line, undefined, `the secret ${secret.slice(0, 8)}… is in the log`);
      }
      // The requests were logged, with the secrets' places marked: this test would see them if they leaked.
      // A refused request is a line at info; one that succeeded is a line at debug only.
      assert.match(log, /"url":"\/v1\/nothing\?token=\[redacted\]"/, 'a refused request is logged, its token redacted');
      assert.match(log, /"url":"\/v1\/nothing\?ticket=\[redacted\]&x=1"/, 'other query values stay');
      assert.match(log, /"url":"\/v1\/nothing\?%74oken=\[redacted\]"/, 'a percent-encoded key is caught');
      const succeeded = /"url":"\/v1\/version\?token=\[redacted\]"/;
      if (level === 'info') assert.doesNotMatch(log, succeeded, 'a request that succeeded is no line at info');
      if (level === 'debug') {
        assert.match(log, succeeded, 'the query token is logged redacted');
        assert.match(log, /"url":"\/v1\/session\?ticket=\[redacted\]&x=1"/, 'other query values stay on a request that succeeded');
        assert.match(log, /"authorization":"Bearer \[redacted\]"/, 'headers are logged at debug, the credential redacted');
        assert.match(log, /"sec-websocket-protocol":"lxss\.events\.v1, lxss\.token\.\[redacted\]"/, 'the subprotocol list keeps its shape');
        assert.match(log, /"parserError":"HPE_HEADER_OVERFLOW"/, 'malformed requests are logged, without their bytes');
      }
    });
  }
});
