// The service surface that every resource shares: version, sessions, problem details.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { ERROR_TABLE } from '../../src/core/errors.js';
import { localRequest } from '../helpers/local-client.js';
import { startServer } from '../helpers/server.js';
import { curlLocalAs, ensureUser, isRoot } from '../helpers/users.js';

describe('GET /v1/version', () => {
  it('tells version, platform, backend and capabilities without a token', async (t) => {
    const server = await startServer(t);
    const response = await request(server.url).get('/v1/version');
    assert.equal(response.status, 200);
    assert.equal(response.body.apiVersion, 'v1');
    assert.equal(response.body.platform, 'linux');
    assert.equal(response.body.backend, 'linux-namespaces');
    for (const capability of ['sid-tokens', 'distributions', 'instances', 'mounts', 'processes', 'events-sse']) {
      assert.ok(response.body.capabilities.includes(capability), capability);
    }
  });
});

describe('sessions', () => {
  it('returns the same UserSession object for the same SID', async (t) => {
    const server = await startServer(t);
    const sessions = server.app.lxss.sessions;
    assert.equal(sessions.forSid('S-1-22-1-1000'), sessions.forSid('S-1-22-1-1000'));
    assert.notEqual(sessions.forSid('S-1-22-1-1000'), sessions.forSid('S-1-22-1-1001'));
  });

  it('lets root list every session and refuses anyone else', async (t) => {
    if (!isRoot) return t.skip('needs root to create users and connect as them');
    const server = await startServer(t);
    const alice = await ensureUser('alice');
    assert.equal((await curlLocalAs(alice, server.socketPath, 'GET', '/v1/session')).status, 200);

    const asRoot = await localRequest(server.socketPath, 'GET', '/v1/sessions');
    assert.equal(asRoot.status, 200);
    const sids = asRoot.body.sessions.map((session: { sid: string }) => session.sid);
    assert.ok(sids.includes(`S-1-22-1-${alice.uid}`), 'alice’s session is listed');

    const asAlice = await curlLocalAs(alice, server.socketPath, 'GET', '/v1/sessions');
    assert.equal(asAlice.status, 403);
    assert.equal((asAlice.json as { code: string }).code, 'E_ACCESSDENIED');
  });
});

describe('problem details', () => {
  it('answers bad input with 400 E_INVALIDARG naming the field, and changes nothing', async (t) => {
    const server = await startServer(t);
    const cases: Array<[string, unknown, string]> = [
      ['wrong type', { label: 5 }, 'body.label'],
      ['unknown field', { labl: 'x' }, 'body.labl'],
      ['out of range', { expiresInSeconds: 0 }, 'body.expiresInSeconds'],
      ['bad SID', { sid: 'root' }, 'body.sid'],
    ];
    for (const [name, body, field] of cases) {
      const response = await localRequest(server.socketPath, 'POST', '/v1/tokens', body);
      assert.equal(response.status, 400, name);
      assert.match(String(response.headers['content-type']), /^application\/problem\+json/, name);
      assert.equal(response.body.code, 'E_INVALIDARG', name);
      assert.equal(response.body.type, 'urn:lxssd:problem:E_INVALIDARG', name);
      assert.equal(response.body.errors[0].field, field, name);
      assert.ok(response.body.detail.includes(field), `${name}: detail names the field`);
    }
    const malformed = await localRequest(server.socketPath, 'POST', '/v1/tokens', undefined, {
      'content-type': 'application/json',
    });
    assert.equal(malformed.status, 400, 'empty JSON body');
    const listed = await localRequest(server.socketPath, 'GET', '/v1/tokens');
    assert.deepEqual(listed.body.tokens, [], 'no token was minted by any bad request');

    // A union reports once, naming what it takes, not once per branch.
    const format = await localRequest(server.socketPath, 'GET', '/v1/distributions/any/export?format=zip');
    assert.equal(format.status, 400);
    assert.deepEqual(format.body.errors, [{ field: 'querystring.format', message: 'must be one of: tar, tar.gz, tar.xz' }]);
  });

  it('takes JSON bodies as application/json only (415 naming what was sent), and a bodiless mint as {}', async (t) => {
    const server = await startServer(t);
    for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
      const response = await localRequest(server.socketPath, 'POST', '/v1/tokens', {}, { 'content-type': type });
      assert.equal(response.status, 415, type);
      assert.equal(response.body.code, 'LXSSD_E_UNSUPPORTED_MEDIA_TYPE', type);
      assert.ok(response.body.detail.includes(type), `${type}: the detail names it`);
      assert.ok(response.body.detail.includes('application/json'), `${type}: the detail names what is taken`);
    }
    assert.deepEqual((await localRequest(server.socketPath, 'GET', '/v1/tokens')).body.tokens, [], 'nothing minted');

    const bare = await localRequest(server.socketPath, 'POST', '/v1/tokens');
    assert.equal(bare.status, 201, 'curl -X POST with no body mints with the defaults');
    assert.equal(bare.body.info.label, null);
    assert.equal(bare.body.info.expiresAt, null);
  });

  it('answers an unknown route with 404 problem+json', async (t) => {
    const server = await startServer(t);
    const response = await localRequest(server.socketPath, 'GET', '/v1/nothing-here');
    assert.equal(response.status, 404);
    assert.equal(response.body.code, 'ERROR_NOT_FOUND');
  });

  it('uses only codes from the error table, each with a problem document shape', () => {
    for (const [code, { status, title }] of Object.entries(ERROR_TABLE)) {
      assert.ok(/^[A-Z][A-Z0-9_]+$/.test(code), `${code} is UPPER_SNAKE`);
      assert.ok(status >= 400 && status < 600, `${code} status`);
      assert.ok(title.length > 0, `${code} title`);
    }
  });
});
