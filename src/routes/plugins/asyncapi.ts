// The AsyncAPI 3 document of the WebSocket routes (openapi/asyncapi.yaml, committed and written by hand) at
// /asyncapi.yaml. Public, like /openapi.json: it describes the API, it does not use it. Read once at start.

import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { notModified, strongEtag } from './static-etag.js';

/** The committed document: from dist/src/routes/plugins/ (where this runs) up to the package's openapi/. */
export const ASYNCAPI_PATH = new URL('../../../../openapi/asyncapi.yaml', import.meta.url);
export const ASYNCAPI_URL = '/asyncapi.yaml';

async function asyncapi(app: FastifyInstance): Promise<void> {
  const document = readFileSync(ASYNCAPI_PATH);
  const etag = strongEtag(document);
  app.get(ASYNCAPI_URL, { schema: { hide: true } }, async (request, reply) => {
    reply.header('etag', etag).header('cache-control', 'no-cache');
    if (notModified(request, etag)) return reply.code(304).send();
    return reply.type('application/yaml; charset=utf-8').send(document);
  });
}

export default fp(asyncapi, { name: 'lxssd-asyncapi' });
