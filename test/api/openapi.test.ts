// The OpenAPI document: served, committed, identical, and valid by a third-party validator.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import SwaggerParser from '@apidevtools/swagger-parser';
import { request as httpRequest } from 'node:http';
import request from 'supertest';
import { startServer } from '../helpers/server.js';

/** A request with a raw body on the local socket: its status and problem code. */
function sendRaw(socketPath: string, method: string, path: string, type: string, body: string): Promise<{ status: number; code?: string }> {
  return new Promise((resolve, reject) => {
    // Content-Length said outright: Node's client sends a DELETE's body without one, and the server then reads
    // those bytes as the next request.
    const headers = { host: 'localhost', 'content-type': type, 'content-length': String(Buffer.byteLength(body)) };
    const req = httpRequest({ socketPath, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, code: text.startsWith('{') ? (JSON.parse(text) as { code?: string }).code : undefined });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const committedPath = new URL('../../../openapi/openapi.json', import.meta.url);

describe('GET /openapi.json', () => {
  it('serves exactly the committed openapi/openapi.json (regenerate with `npm run openapi`)', async (t) => {
    const server = await startServer(t);
    const served = await request(server.url).get('/openapi.json');
    assert.equal(served.status, 200);
    const committed = JSON.parse(await readFile(committedPath, 'utf8'));
    assert.deepEqual(served.body, committed, 'openapi/openapi.json is stale: run `npm run openapi` and commit it');
  });

  it('is a valid OpenAPI 3 document in which every operation declares its responses (success: 2xx, or 101 for a WebSocket)', async (t) => {
    const server = await startServer(t);
    const document = (await request(server.url).get('/openapi.json')).body;
    await SwaggerParser.validate(structuredClone(document));
    for (const [path, item] of Object.entries<Record<string, { operationId?: string; responses?: object }>>(document.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        assert.ok(operation.operationId, `${method.toUpperCase()} ${path} has an operationId`);
        assert.ok(Object.keys(operation.responses ?? {}).some((code) => /^(2|101$)/.test(code)), `${method} ${path} success`);
        assert.ok(Object.keys(operation.responses ?? {}).some((code) => code.startsWith('4')), `${method} ${path} errors`);
      }
    }
  });

  it('declares 400 wherever input is validated, 414 wherever a path has parameters, and 413 and 415 wherever a body is read', async (t) => {
    const server = await startServer(t);
    const document = (await request(server.url).get('/openapi.json')).body;
    type Operation = { parameters?: unknown[]; requestBody?: unknown; responses: Record<string, unknown> };
    for (const [path, item] of Object.entries<Record<string, Operation>>(document.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        const where = `${method.toUpperCase()} ${path}`;
        const validated = (operation.parameters?.length ?? 0) > 0 || operation.requestBody !== undefined;
        if (validated) assert.ok(operation.responses['400'], `${where} declares 400`);
        if (path.includes('{')) assert.ok(operation.responses['414'], `${where} declares 414`);
        if (operation.requestBody) {
          assert.ok(operation.responses['413'], `${where} declares 413`);
          assert.ok(operation.responses['415'], `${where} declares 415`);
        }
      }
    }
  });

  it('declares the 400 and 415 of a bodiless POST, PUT, PATCH or DELETE, which the server does send for a body it cannot take', async (t) => {
    const server = await startServer(t);
    const document = (await request(server.url).get('/openapi.json')).body;
    type Operation = { requestBody?: unknown; responses: Record<string, unknown> };
    let checked = 0;
    for (const [path, item] of Object.entries<Record<string, Operation>>(document.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        if (!['post', 'put', 'patch', 'delete'].includes(method) || operation.requestBody) continue;
        const where = `${method.toUpperCase()} ${path}`;
        const id = path.startsWith('/v1/tokens/') ? '0123456789abcdef' : '00000000-0000-4000-8000-000000000000';
        const url = path.replace('{distro}', 'NoSuchDistro').replace('{id}', id);
        const unsupported = await sendRaw(server.socketPath, method.toUpperCase(), url, 'text/plain', 'hello');
        assert.deepEqual(unsupported, { status: 415, code: 'LXSSD_E_UNSUPPORTED_MEDIA_TYPE' }, `${where} with text/plain`);
        const malformed = await sendRaw(server.socketPath, method.toUpperCase(), url, 'application/json', '{"');
        assert.deepEqual(malformed, { status: 400, code: 'LXSSD_E_MALFORMED_JSON' }, `${where} with bad JSON`);
        assert.ok(operation.responses['400'], `${where} declares 400`);
        assert.ok(operation.responses['415'], `${where} declares 415`);
        checked++;
      }
    }
    assert.ok(checked >= 4, `bodiless POSTs and DELETEs checked: ${checked}`);
  });

  it('serves Swagger UI at /docs', async (t) => {
    const server = await startServer(t);
    const response = await request(server.url).get('/docs/');
    assert.equal(response.status, 200);
    assert.match(response.text, /swagger/i);
  });
});
