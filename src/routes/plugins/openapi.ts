// The OpenAPI document (generated from the route schemas) at /openapi.json, and Swagger UI at /docs.
// Both are public: they describe the API, they do not use it.

import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { LXSSD_VERSION } from '../../version.js';
import { COMPONENT_SCHEMAS } from '../components.js';

const DESCRIPTION = `The WSL service (wslservice.exe) as a loopback REST/WebSocket API.

Authentication: on the local (Unix) socket the kernel proves who you are and no token is needed.
Over loopback TCP send \`Authorization: Bearer <token>\`; a WebSocket may carry the token as the
subprotocol \`lxss.token.<token>\` instead. Mint a token with \`lxssd token\` or \`POST /v1/tokens\` on the local socket.

Errors are \`application/problem+json\` with a stable \`code\` (see docs/errors.md).`;

async function openapi(app: FastifyInstance): Promise<void> {
  for (const schema of COMPONENT_SCHEMAS) app.addSchema(schema);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'lxssd', version: LXSSD_VERSION, description: DESCRIPTION },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'a SID token (`lxss_…`)' },
        },
      },
      security: [{ bearerAuth: [] }],
      tags: [
        { name: 'service', description: 'The service itself' },
        { name: 'sessions', description: 'One session per user SID' },
        { name: 'tokens', description: 'SID tokens for TCP callers' },
        { name: 'distributions', description: 'Registered root filesystems (WSL’s distributions)' },
        { name: 'instances', description: 'Running distributions and the per-user VM' },
        { name: 'processes', description: 'Processes in distributions (WSL’s CreateLxProcess), their stdio and exit codes' },
        { name: 'events', description: 'The session’s event stream: JSON, Server-Sent Events or a WebSocket' },
      ],
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}

export default fp(openapi, { name: 'lxssd-openapi' });
