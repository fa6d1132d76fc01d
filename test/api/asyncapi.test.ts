// The AsyncAPI 3 document of the WebSocket routes: valid by @asyncapi/parser, a channel for every subprotocol
// of every WebSocket route, and served as committed.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Parser, fromFile } from '@asyncapi/parser';
import { OpenAPISchemaParser } from '@asyncapi/openapi-schema-parser';
import request from 'supertest';
import { EVENTS_CHANNELS } from '../../src/routes/events.js';
import { SPOKEN, STDIO_CHANNELS } from '../../src/routes/stdio.js';
import { startServer } from '../helpers/server.js';

const committedPath = fileURLToPath(new URL('../../../openapi/asyncapi.yaml', import.meta.url));

async function parse() {
  const parser = new Parser({ schemaParsers: [OpenAPISchemaParser()] });
  return fromFile(parser, committedPath).parse();
}

describe('openapi/asyncapi.yaml', () => {
  it('is a valid AsyncAPI 3 document: no errors and no warnings (the one hint left: 3.1.0 exists)', async () => {
    const { document, diagnostics } = await parse();
    const serious = diagnostics.filter((d) => d.severity <= 1);
    assert.deepEqual(serious.map((d) => `${d.code} ${d.path.join('.')}: ${d.message}`), []);
    assert.ok(document);
    assert.equal(document.version(), '3.0.0');
  });

  it('has a channel for every subprotocol of every WebSocket route, at its address, as x-asyncapi says', async (t) => {
    const { document } = await parse();
    assert.ok(document);
    const server = await startServer(t);
    const openapi = (await request(server.url).get('/openapi.json')).body as {
      paths: Record<string, Record<string, { responses: Record<string, unknown>; 'x-asyncapi'?: Record<string, string> }>>;
    };
    let routes = 0;
    for (const [path, item] of Object.entries(openapi.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        if (!operation.responses['101']) continue;
        routes++;
        const pointers = operation['x-asyncapi'];
        assert.ok(pointers, `${method.toUpperCase()} ${path} points to its AsyncAPI channels`);
        for (const [protocol, pointer] of Object.entries(pointers)) {
          const match = /^\/asyncapi\.yaml#\/channels\/(\w+)$/.exec(pointer);
          assert.ok(match, pointer);
          const channel = document.channels().get(match[1]!);
          assert.ok(channel, `channel ${match[1]} (${protocol}) exists`);
          assert.equal(channel.address(), path, `channel ${match[1]} is at ${path}`);
          assert.ok(channel.json().title?.includes(protocol), `channel ${match[1]} names ${protocol}`);
        }
      }
    }
    assert.equal(routes, 2, 'the two WebSocket routes: stdio and events');
    const stdio = openapi.paths['/v1/processes/{id}/stdio']!.get!['x-asyncapi']!;
    assert.deepEqual(Object.keys(stdio).sort(), [...SPOKEN].sort(), 'every protocol the stdio route speaks');
    assert.deepEqual(Object.keys(STDIO_CHANNELS).sort(), [...SPOKEN].sort());
    assert.deepEqual(Object.keys(openapi.paths['/v1/events']!.get!['x-asyncapi']!), Object.keys(EVENTS_CHANNELS));
  });

  it('takes the event schema from the OpenAPI document (no copy to drift): the Event payload is its oneOf', async () => {
    const { document } = await parse();
    const payload = document!.components().messages().get('event')!.payload()!.json() as { schema: { oneOf: Array<{ title: string }> } };
    const openapi = JSON.parse(await readFile(new URL('../../../openapi/openapi.json', import.meta.url), 'utf8'));
    const titles = (openapi.components.schemas.Event.oneOf as Array<{ $ref: string }>).map(
      (ref) => openapi.components.schemas[ref.$ref.split('/').pop()!].title,
    );
    assert.deepEqual(payload.schema.oneOf.map((variant) => variant.title), titles);
  });

  it('is served at GET /asyncapi.yaml without a token, exactly as committed, as YAML with an ETag', async (t) => {
    const server = await startServer(t);
    const served = await request(server.url).get('/asyncapi.yaml').buffer(true).parse((res, done) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => done(null, Buffer.concat(chunks)));
    });
    assert.equal(served.status, 200);
    assert.match(served.headers['content-type'] ?? '', /^application\/yaml/);
    assert.deepEqual(served.body, await readFile(committedPath));
    const etag = served.headers.etag;
    assert.ok(etag);
    const again = await request(server.url).get('/asyncapi.yaml').set('if-none-match', etag);
    assert.equal(again.status, 304);
  });
});
