// Protocol hygiene: every refusal — Node's HTTP parser's, Fastify's router's and body parsers', ws's handshake
// checks, ours — is application/problem+json with a stable code from the error table, and a refused upgrade
// or malformed request leaves no connection behind. Security headers on every page.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import request from 'supertest';
import WebSocket from 'ws';
import { ERROR_TABLE, type ErrorCode } from '../../src/core/errors.js';
import { openEventsSocket } from '../helpers/event-client.js';
import { localRequest } from '../helpers/local-client.js';
import { tokenOf } from '../helpers/process-client.js';
import { rawExchange, type RawAnswer } from '../helpers/raw-http.js';
import { startServer, type TestServer } from '../helpers/server.js';

const PROBLEM = /^application\/problem\+json/;

function assertProblem(answer: { status: number; headers: Record<string, unknown>; body: any }, code: ErrorCode, what: string) {
  assert.match(String(answer.headers['content-type']), PROBLEM, `${what}: content-type`);
  assert.equal(answer.status, ERROR_TABLE[code].status, `${what}: status (${JSON.stringify(answer.body)})`);
  assert.equal(answer.body?.code, code, `${what}: code`);
  assert.equal(answer.body?.status, answer.status, `${what}: the document's status`);
  assert.equal(answer.body?.type, `urn:lxssd:problem:${code}`, `${what}: type`);
  assert.equal(typeof answer.body?.detail, 'string', `${what}: detail`);
}

function assertClosedProblem(answer: RawAnswer, code: ErrorCode, what: string) {
  assertProblem(answer, code, what);
  assert.ok(answer.closed, `${what}: the connection is closed`);
}

/** The answer to a WebSocket upgrade the server refused, and whether the server then closed the socket. */
function refusedUpgrade(
  url: string,
  options: { protocols?: string[]; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: any; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, options.protocols ?? [], { headers: options.headers });
    socket.on('open', () => {
      socket.terminate();
      reject(new Error(`${url}: the upgrade went through (101)`));
    });
    socket.on('error', () => undefined);
    socket.on('unexpected-response', (_req, res) => {
      const closed = once(res.socket, 'close').then(() => undefined);
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, closed });
      });
    });
  });
}

function host(server: TestServer): string {
  return `Host: 127.0.0.1:${server.port}\r\n`;
}

describe('malformed requests (Node’s HTTP parser)', () => {
  it('answers a malformed request line, header or framing with 400 problem+json and closes, on both listeners', async (t) => {
    const server = await startServer(t);
    const cases: Array<[string, string]> = [
      ['a request line that is not HTTP', 'GARBAGE\r\n\r\n'],
      ['an unknown method', 'BREW /v1/version HTTP/1.1\r\nHost: localhost\r\n\r\n'],
      ['a bad HTTP version', 'GET /v1/version HTTP/9.9\r\nHost: localhost\r\n\r\n'],
      ['a header name with a control byte', 'GET /v1/version HTTP/1.1\r\nHost: localhost\r\nX-A\u0001b: c\r\n\r\n'],
      ['a header line without a colon', 'GET /v1/version HTTP/1.1\r\nHost: localhost\r\nnot a header\r\n\r\n'],
      [
        'Content-Length and Transfer-Encoding both (request smuggling)',
        'POST /v1/tokens HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      ],
      ['a bad chunk size', 'POST /v1/tokens HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n'],
    ];
    for (const [what, bytes] of cases) {
      assertClosedProblem(await rawExchange({ port: server.port }, bytes), 'LXSSD_E_BAD_REQUEST', `TCP: ${what}`);
      assertClosedProblem(await rawExchange({ socketPath: server.socketPath }, bytes), 'LXSSD_E_BAD_REQUEST', `local socket: ${what}`);
    }
  });

  it('answers headers over the size limit with 431 problem+json and closes, on both listeners', async (t) => {
    const server = await startServer(t);
    const big = `GET /v1/version HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`;
    assertClosedProblem(await rawExchange({ port: server.port }, big), 'LXSSD_E_HEADERS_TOO_LARGE', 'TCP');
    assertClosedProblem(await rawExchange({ socketPath: server.socketPath }, big), 'LXSSD_E_HEADERS_TOO_LARGE', 'local socket');
    const many = `GET /v1/version HTTP/1.1\r\nHost: localhost\r\n${Array.from({ length: 3000 }, (_, i) => `X-${i}: v\r\n`).join('')}\r\n`;
    assertClosedProblem(await rawExchange({ port: server.port }, many), 'LXSSD_E_HEADERS_TOO_LARGE', 'many small headers');
  });

  it('answers an Expect other than 100-continue with 417 problem+json, not Node’s bare 417', async (t) => {
    const server = await startServer(t);
    const bytes = 'POST /v1/tokens HTTP/1.1\r\nHost: localhost\r\nExpect: 200-ok\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}';
    assertClosedProblem(await rawExchange({ socketPath: server.socketPath }, bytes), 'LXSSD_E_EXPECTATION_FAILED', 'local socket');
    assertClosedProblem(await rawExchange({ port: server.port }, bytes), 'LXSSD_E_EXPECTATION_FAILED', 'TCP');
    assert.deepEqual((await localRequest(server.socketPath, 'GET', '/v1/tokens')).body.tokens, [], 'nothing was minted');
  });

  it('answers an HTTP/1.1 request without Host with the Host guard’s 403, not Node’s bare 400 [S3]', async (t) => {
    const server = await startServer(t);
    const answer = await rawExchange({ port: server.port }, 'GET /v1/version HTTP/1.1\r\n\r\n', { awaitClose: false });
    assertProblem(answer, 'LXSSD_E_HOST_NOT_ALLOWED', 'no Host over TCP');
    const local = await rawExchange({ socketPath: server.socketPath }, 'GET /v1/version HTTP/1.1\r\nConnection: close\r\n\r\n');
    assert.equal(local.status, 200, 'the local socket needs no Host');
  });
});

describe('Fastify’s own refusals', () => {
  it('answers a bad URL encoding with 400 LXSSD_E_BAD_URL and a too-long path segment with 414', async (t) => {
    const server = await startServer(t);
    const token = await tokenOf(server);
    for (const path of ['/v1/distributions/%zz', '/v1/distributions/%E0%A4%A', '/v1/processes/%/stdio']) {
      const bytes = `GET ${path} HTTP/1.1\r\n${host(server)}Authorization: Bearer ${token}\r\n\r\n`;
      assertProblem(await rawExchange({ port: server.port }, bytes, { awaitClose: false }), 'LXSSD_E_BAD_URL', path);
    }
    const long = await request(server.url).get(`/v1/distributions/${'a'.repeat(4000)}`).set('authorization', `Bearer ${token}`);
    assertProblem(long, 'LXSSD_E_URI_TOO_LONG', 'a 4000-character path segment (past the router limit of 3,072)');
  });

  it('answers unknown routes with 404 and a wrong method with 405 naming the allowed ones', async (t) => {
    const server = await startServer(t);
    const token = await tokenOf(server);
    // `/` is the dashboard's page (test/browser/dashboard.test.ts); a path beside it that is nothing is a 404.
    for (const path of ['/nothing.here', '/v2/version', '/v1/nothing', '/v1/distributions/a/b/c/d']) {
      const response = await request(server.url).get(path).set('authorization', `Bearer ${token}`);
      assertProblem(response, 'ERROR_NOT_FOUND', `GET ${path}`);
    }
    const cases: Array<[string, string, string[]]> = [
      ['put', '/v1/version', ['GET']],
      ['delete', '/v1/session', ['GET']],
      ['patch', '/v1/tokens', ['GET', 'POST']],
      ['post', '/v1/distributions/x', ['GET', 'PATCH', 'DELETE']],
      ['post', '/', ['GET']],
    ];
    for (const [method, path, allowed] of cases) {
      const response = await (request(server.url) as any)[method](path).set('authorization', `Bearer ${token}`);
      assertProblem(response, 'LXSSD_E_METHOD_NOT_ALLOWED', `${method} ${path}`);
      for (const name of allowed) assert.ok(String(response.headers.allow).includes(name), `${method} ${path}: Allow has ${name}`);
    }
  });

  it('answers malformed and empty JSON bodies with 400 LXSSD_E_MALFORMED_JSON', async (t) => {
    const server = await startServer(t);
    for (const [what, body] of [['not JSON', '{label:'], ['empty', ''], ['prototype poisoning', '{"__proto__":{"x":1}}']]) {
      const bytes =
        'POST /v1/tokens HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n' +
        `Content-Length: ${Buffer.byteLength(body!)}\r\nConnection: close\r\n\r\n${body}`;
      const answer = await rawExchange({ socketPath: server.socketPath }, bytes);
      if (what === 'prototype poisoning') {
        assert.match(String(answer.headers['content-type']), PROBLEM, what);
        assert.equal(answer.status, 400, what);
      } else {
        assertProblem(answer, 'LXSSD_E_MALFORMED_JSON', what!);
      }
    }
    assert.deepEqual((await localRequest(server.socketPath, 'GET', '/v1/tokens')).body.tokens, [], 'nothing was minted');
  });

  it('answers a JSON body over the limit with 413 problem+json', async (t) => {
    const server = await startServer(t);
    const response = await localRequest(server.socketPath, 'POST', '/v1/tokens', { label: 'x'.repeat(2 << 20) });
    assertProblem(response, 'LXSSD_E_PAYLOAD_TOO_LARGE', '2 MiB label');
  });
});

describe('POST /v1/distributions with the wrong media type', () => {
  it('answers an archive sent as application/json with 415 naming the accepted types, not 413, before reading it', async (t) => {
    const server = await startServer(t);
    const archive = Buffer.alloc(4 << 20, 0x61);
    for (const type of ['application/json', 'text/plain', 'multipart/form-data; boundary=x', undefined]) {
      const response = await new Promise<{ status: number; headers: Record<string, unknown>; body: any }>((resolve, reject) => {
        const headers: Record<string, string | number> = { host: 'localhost', 'content-length': archive.length };
        if (type !== undefined) headers['content-type'] = type;
        const req = httpRequest({ socketPath: server.socketPath, method: 'POST', path: '/v1/distributions?name=refused', headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(Buffer.concat(chunks).toString()) }));
        });
        // The server answers before taking the body and closes: the rest of our upload may fail to go out.
        req.on('error', reject);
        req.end(archive);
      });
      const what = `content-type ${type ?? 'none'}`;
      assertProblem(response, 'LXSSD_E_UNSUPPORTED_MEDIA_TYPE', what);
      assert.ok(response.body.detail.includes('application/x-tar'), `${what}: the detail names the accepted types`);
      if (type) assert.ok(response.body.detail.includes(type.split(';')[0]), `${what}: the detail names what was sent`);
    }
    assert.deepEqual((await localRequest(server.socketPath, 'GET', '/v1/distributions')).body.distributions, [], 'nothing registered');
  });
});

describe('WebSocket upgrades', () => {
  it('refuses an upgrade to a route that is not a WebSocket with 400 problem+json and closes the socket', async (t) => {
    const server = await startServer(t);
    const token = await tokenOf(server);
    for (const path of ['/v1/version', '/v1/session', '/v1/distributions', '/openapi.json', '/docs']) {
      const refused = await refusedUpgrade(`ws://127.0.0.1:${server.port}${path}`, { protocols: [`lxss.token.${token}`] });
      assertProblem(refused, 'LXSSD_E_NOT_A_WEBSOCKET', path);
      await refused.closed;
    }
    const unknown = await refusedUpgrade(`ws://127.0.0.1:${server.port}/v1/nothing`);
    assertProblem(unknown, 'ERROR_NOT_FOUND', 'an unknown path');
    await unknown.closed;
    // On the local socket too, as raw bytes (ws has no Unix-socket URL here).
    const local = await rawExchange(
      { socketPath: server.socketPath },
      'GET /v1/version HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    assertClosedProblem(local, 'LXSSD_E_NOT_A_WEBSOCKET', 'local socket');
  });

  it('still upgrades a WebSocket route', async (t) => {
    const server = await startServer(t);
    const { socket } = await openEventsSocket(server, await tokenOf(server));
    assert.equal(socket.protocol, 'lxss.events.v1');
    socket.close();
    await once(socket, 'close');
  });

  it('answers a handshake without a key, with a bad key or version, or another Upgrade with 400 problem+json', async (t) => {
    const server = await startServer(t);
    const token = await tokenOf(server);
    const head = (lines: string[]) =>
      `GET /v1/events HTTP/1.1\r\n${host(server)}Authorization: Bearer ${token}\r\nConnection: Upgrade\r\n${lines.map((line) => `${line}\r\n`).join('')}\r\n`;
    const key = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==';
    const cases: Array<[string, string[]]> = [
      ['no Sec-WebSocket-Key', ['Upgrade: websocket', 'Sec-WebSocket-Version: 13']],
      ['a key that is not 16 bytes', ['Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: short']],
      ['no version', ['Upgrade: websocket', key]],
      ['version 12', ['Upgrade: websocket', 'Sec-WebSocket-Version: 12', key]],
      ['Upgrade: h2c', ['Upgrade: h2c', 'Sec-WebSocket-Version: 13', key]],
      ['a malformed subprotocol list', ['Upgrade: websocket', 'Sec-WebSocket-Version: 13', key, 'Sec-WebSocket-Protocol: lxss.events.v1,']],
    ];
    for (const [what, lines] of cases) {
      const answer = await rawExchange({ port: server.port }, head(lines));
      assertClosedProblem(answer, 'LXSSD_E_BAD_HANDSHAKE', what);
      if (what === 'version 12') assert.equal(answer.headers['sec-websocket-version'], '13, 8', `${what}: names the versions taken`);
    }
    // A key and version make it a handshake again.
    const good = await rawExchange({ port: server.port }, head(['Upgrade: websocket', 'Sec-WebSocket-Version: 13', key]), { awaitClose: false });
    assert.equal(good.status, 101, 'the same request with a key and a version upgrades');
  });
});

describe('security headers', () => {
  it('sends X-Frame-Options: DENY and a CSP with frame-ancestors none on /docs, / and the API', async (t) => {
    const server = await startServer(t);
    for (const path of ['/docs', '/docs/', '/docs/static/index.html', '/docs/static/swagger-ui-bundle.js', '/', '/openapi.json', '/v1/version']) {
      const response = await request(server.url).get(path).redirects(0);
      assert.equal(response.headers['x-frame-options'], 'DENY', `${path} (${response.status})`);
      assert.match(String(response.headers['content-security-policy']), /frame-ancestors 'none'/, `${path}: CSP`);
      assert.equal(response.headers['x-content-type-options'], 'nosniff', `${path}: nosniff`);
    }
    const docs = await request(server.url).get('/docs/');
    assert.equal(docs.status, 200, 'Swagger UI is served');
    assert.match(docs.text, /swagger-ui-bundle\.js/, 'the Swagger UI page');
    const csp = String(docs.headers['content-security-policy']);
    assert.match(csp, /script-src 'self'/, 'Swagger UI may load its own scripts');
    assert.doesNotMatch(csp, /script-src[^;]*'unsafe-inline'/, 'but no inline script');
    const api = String((await request(server.url).get('/v1/version')).headers['content-security-policy']);
    assert.match(api, /default-src 'none'/, 'API answers allow no active content');
  });
});
