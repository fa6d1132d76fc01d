// /v1/distributions/{distro}/mounts: host folders bound into a running distribution (WSL's drvfs shares).

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { sessionOf } from './caller.js';
import { DistroParams } from './distributions.schemas.js';
import { CreateShareBody, ShareListSchema, ShareSchema, ShareTargetQuery } from './mounts.schemas.js';
import { problemResponses } from './problem.schemas.js';
import { ref } from './schema-helpers.js';

export const mountRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/distributions/:distro/mounts',
    {
      schema: {
        operationId: 'listMounts',
        description:
          'The host folders shared into the running distribution: the automounts of the service configuration and those added through the API.',
        tags: ['instances'],
        summary: 'Host folders shared into the running distribution',
        params: DistroParams,
        response: { 200: ref(ShareListSchema, 'The folders shared into the distribution'), ...problemResponses(404) },
      },
    },
    async (request) => ({ mounts: await sessionOf(app, request).mounts(request.params.distro) }),
  );

  app.post(
    '/distributions/:distro/mounts',
    {
      schema: {
        operationId: 'addMount',
        description:
          'Binds a host folder the caller may read into the running distribution at `target`, read-only if asked; gone when the distribution stops.',
        tags: ['instances'],
        summary: 'Bind a host folder the caller may read into the running distribution',
        params: DistroParams,
        body: ref(CreateShareBody),
        response: { 201: ref(ShareSchema, 'Shared'), ...problemResponses(400, 404, 409) },
      },
    },
    async (request, reply) => {
      const { hostPath, target, readOnly = false } = request.body;
      return reply.code(201).send(await sessionOf(app, request).addMount(request.params.distro, { hostPath, target, readOnly }));
    },
  );

  app.delete(
    '/distributions/:distro/mounts',
    {
      schema: {
        operationId: 'removeMount',
        description:
          'Unbinds a folder shared into the running distribution (named by `target`). 204, no body.',
        tags: ['instances'],
        summary: 'Unbind a shared folder',
        params: DistroParams,
        querystring: ShareTargetQuery,
        response: { 204: Type.Null({ description: 'Unbound' }), ...problemResponses(400, 404) },
      },
    },
    async (request, reply) => {
      await sessionOf(app, request).removeMount(request.params.distro, request.query.target);
      return reply.code(204).send(null);
    },
  );
};
