// /v1/distributions/{distro}/instance (start, look, terminate), /v1/vm and /v1/shutdown.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { sessionOf } from './caller.js';
import { DistroParams } from './distributions.schemas.js';
import { InstanceSchema, VmSchema } from './instances.schemas.js';
import { problemResponses } from './problem.schemas.js';
import { ref } from './schema-helpers.js';

export const instanceRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/distributions/:distro/instance',
    {
      schema: {
        operationId: 'startInstance',
        description:
          'Starts the distribution (and the caller\'s VM when it is not running), as WSL does on first use: 201 when it started, 200 when it was running already, with the instance either way.',
        tags: ['instances'],
        summary: 'Start the distribution (and the VM); 200 when it was running already',
        params: DistroParams,
        response: { 200: ref(InstanceSchema, 'It was already running'), 201: ref(InstanceSchema, 'Started'), ...problemResponses(404, 409) },
      },
    },
    async (request, reply) => {
      const { instance, created } = await sessionOf(app, request).startInstance(request.params.distro);
      return reply.code(created ? 201 : 200).send(instance);
    },
  );

  app.get(
    '/distributions/:distro/instance',
    {
      schema: {
        operationId: 'getInstance',
        description:
          'The running instance of a distribution: its PID 1, start time, process count and hostname; 404 LXSSD_E_NOT_RUNNING when it is stopped.',
        tags: ['instances'],
        summary: 'The running instance of a distribution (404 LXSSD_E_NOT_RUNNING when stopped)',
        params: DistroParams,
        response: { 200: ref(InstanceSchema, 'The running instance'), ...problemResponses(404) },
      },
    },
    async (request) => sessionOf(app, request).instance(request.params.distro),
  );

  app.delete(
    '/distributions/:distro/instance',
    {
      schema: {
        operationId: 'terminateInstance',
        description:
          'WSL\'s TerminateDistribution (`wsl -t`): every process of the distribution ends and its namespaces go. Fine when it is not running. 204, no body.',
        tags: ['instances'],
        summary: 'Terminate the distribution: every process of it ends (fine when it is not running)',
        params: DistroParams,
        response: { 204: Type.Null({ description: 'Stopped' }), ...problemResponses(404) },
      },
    },
    async (request, reply) => {
      await sessionOf(app, request).terminateInstance(request.params.distro);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/vm',
    {
      schema: {
        operationId: 'getVm',
        description:
          'The caller\'s VM (the holder of the user namespace, WSL\'s utility VM): whether it runs, since when, its instances, and its limits and their use.',
        tags: ['instances'],
        summary: "The caller's VM: state, start time, instances",
        response: { 200: ref(VmSchema, 'Your VM, running or stopped'), ...problemResponses() },
      },
    },
    async (request) => sessionOf(app, request).vm(),
  );

  app.post(
    '/shutdown',
    {
      schema: {
        operationId: 'shutdown',
        description:
          'WSL\'s Shutdown (`wsl --shutdown`) for the caller\'s session only: every instance is terminated and the VM stopped; other users\' sessions are untouched. 204, no body.',
        tags: ['instances'],
        summary: "Terminate every instance and the VM of the caller's session (no other user's)",
        response: { 204: Type.Null({ description: 'Shut down' }), ...problemResponses() },
      },
    },
    async (request, reply) => {
      await sessionOf(app, request).shutdown();
      return reply.code(204).send(null);
    },
  );
};
