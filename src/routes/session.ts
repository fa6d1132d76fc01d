// /v1/session (the caller's) and /v1/sessions (all; root only).

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { callerOf } from './caller.js';
import { PageQuery, pageByKey } from './paging.js';
import { problemResponses } from './problem.schemas.js';
import { ref } from './schema-helpers.js';
import { CallerSessionSchema, SessionListSchema } from './session.schemas.js';

export const sessionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/session',
    {
      schema: {
        operationId: 'getSession',
        description:
          'Who the service takes the caller to be: the SID (from the kernel on the local socket, from the token over TCP), the host account, how the caller was proven, whether it is an administrator, and what the user\'s VM lacks (`warnings`).',
        tags: ['sessions'],
        summary: "The caller's session: who lxssd thinks you are",
        response: { 200: ref(CallerSessionSchema, 'Your session'), ...problemResponses() },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const session = app.lxss.sessionOf(caller);
      return {
        ...session.describe(),
        warnings: await session.warnings(),
        transport: caller.transport,
        tokenId: caller.tokenId ?? null,
        administrator: app.lxss.isAdministrator(caller),
      };
    },
  );

  app.get(
    '/sessions',
    {
      schema: {
        operationId: 'listSessions',
        description:
          'Every user session the service holds (root only; 403 for anyone else), oldest first, a page at a time (`limit`, `after`).',
        tags: ['sessions'],
        summary: 'Every user session (root only), oldest first, a page at a time',
        querystring: PageQuery,
        response: { 200: ref(SessionListSchema, 'A page of sessions'), ...problemResponses(400) },
      },
    },
    async (request) => {
      const sessions = app.lxss.listSessions(callerOf(request)).map((session) => session.describe());
      const page = pageByKey(sessions, (session) => `${session.createdAt} ${session.sid}`, request.query);
      return { sessions: page.items, next: page.next };
    },
  );
};
