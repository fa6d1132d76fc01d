// The OpenAPI document (generated from the route schemas) at /openapi.json, and Swagger UI at /docs.
// Both are public: they describe the API, they do not use it.

import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { DEFAULT_PORT, defaultSocketPath } from '../../config.js';
import { LXSSD_VERSION } from '../../version.js';
import { COMPONENT_SCHEMAS } from '../components.js';

/** The local socket of a service run by root; a user's own service listens in its state folder (see the description). */
const ROOT_SOCKET = defaultSocketPath(true, '/var/lib/lxssd');

const DESCRIPTION = `The WSL service (wslservice.exe) as a loopback REST/WebSocket API.

Where it listens: loopback TCP (\`servers\`: \`http://127.0.0.1:${DEFAULT_PORT}\` unless \`--listen\` says otherwise) and a
local (Unix) socket (\`x-lxssd-unix-socket\`): \`${ROOT_SOCKET}\` for the service run by root,
\`~/.local/state/lxssd/lxssd.sock\` for a user's own (\`--socket\` or \`LXSSD_SOCKET\` name another). The same API is
served on both: \`curl --unix-socket ${ROOT_SOCKET} http://localhost/v1/version\`.

Authentication: on the local (Unix) socket the kernel proves who you are and no token is needed.
Over loopback TCP send \`Authorization: Bearer <token>\`; a WebSocket may carry the token as the
subprotocol \`lxss.token.<token>\` instead. Mint a token with \`lxssd token\` or \`POST /v1/tokens\` on the local socket.

Errors are \`application/problem+json\` with a stable \`code\` (see docs/errors.md).`;

async function openapi(app: FastifyInstance): Promise<void> {
  for (const schema of COMPONENT_SCHEMAS) app.addSchema(schema);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'lxssd',
        version: LXSSD_VERSION,
        description: DESCRIPTION,
        license: { name: 'MIT', url: 'https://opensource.org/license/mit' },
      },
      servers: [
        {
          url: 'http://127.0.0.1:{port}',
          description: 'loopback TCP: a bearer token is needed (the local socket needs none; see x-lxssd-unix-socket)',
          variables: { port: { default: String(DEFAULT_PORT), description: 'the port of `--listen` (default ' + DEFAULT_PORT + ')' } },
        },
      ],
      // An extension member: @fastify/swagger copies `x-` keys of this object to the document, its types do not know them.
      ...({ 'x-lxssd-unix-socket': {
        path: ROOT_SOCKET,
        userPath: '~/.local/state/lxssd/lxssd.sock',
        description:
          'The same API on a local (Unix) socket, where the kernel proves the caller (SO_PEERCRED) and no token is needed: ' +
          `${ROOT_SOCKET} for the service run by root, ~/.local/state/lxssd/lxssd.sock for a user's own. Any Host works there.`,
      } } as object),
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            description:
              'a SID token (`lxss_…`), from `lxssd token` or POST /v1/tokens, as `Authorization: Bearer <token>` over TCP. ' +
              'A WebSocket client that cannot set headers (a browser) may offer the subprotocol `lxss.token.<token>` ' +
              'instead, alongside the one it speaks; the server never selects it. Not needed on the local socket',
          },
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
    // The server URL has a {port} variable, which is not a URL to strip a base path from (and there is none).
    stripBasePath: false,
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}

export default fp(openapi, { name: 'lxssd-openapi' });
