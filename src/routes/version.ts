// /v1/version: public, so clients can check compatibility before they hold a token.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { LXSSD_VERSION } from '../version.js';
import { publicProblemResponses } from './problem.schemas.js';
import { ref } from './schema-helpers.js';
import { VersionSchema } from './version.schemas.js';

/** What this build of the API offers; grows as resources land. */
export const CAPABILITIES = [
  'sid-tokens',
  'sessions',
  'distributions',
  'instances',
  'mounts',
  'processes',
  'process-stdio-websocket',
  'events-sse',
  'events-websocket',
] as const;

export const versionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/version',
    {
      config: { public: true },
      schema: {
        operationId: 'getVersion',
        description:
          'What this server is and offers (WSL\'s GetVersion): its release, `apiVersion` (v1), the platform and the backend that runs distributions, and the capabilities a client may test for. Public: no token needed.',
        tags: ['service'],
        summary: 'Version, platform, backend and capabilities',
        security: [],
        response: { 200: ref(VersionSchema, 'This server'), ...publicProblemResponses() },
      },
    },
    async () => ({
      version: LXSSD_VERSION,
      apiVersion: 'v1' as const,
      platform: process.platform,
      arch: process.arch,
      backend: app.lxss.hv.info.backend,
      capabilities: [...CAPABILITIES],
    }),
  );
};
