// /v1/distributions: register (import a tar), list, read, configure, unregister, export and move the
// caller's distributions; /v1/default-distribution.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Readable } from 'node:stream';
import { LxssError } from '../core/errors.js';
import { distributionsOf } from './caller.js';
import {
  ARCHIVE_MEDIA_TYPES,
  ArchiveBody,
  DistributionListSchema,
  DistributionSchema,
  DistroParams,
  ImportedDistributionSchema,
  ExportQuery,
  ImportQuery,
  MoveBody,
  PatchDistributionBody,
  SetDefaultBody,
} from './distributions.schemas.js';
import { PageQuery, pageByKey } from './paging.js';
import { problemResponses } from './problem.schemas.js';
import { LOCATION_HEADER, ref } from './schema-helpers.js';

const EXPORT_MEDIA_TYPES = { tar: 'application/x-tar', 'tar.gz': 'application/gzip', 'tar.xz': 'application/x-xz' };

export const distributionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Archives stream straight from the socket to the extractor; they are never buffered or parsed here.
  app.addContentTypeParser(ARCHIVE_MEDIA_TYPES, (_request, payload, done) => done(null, payload));

  app.post(
    '/distributions',
    {
      schema: {
        operationId: 'importDistribution',
        description:
          'WSL\'s RegisterDistribution (`wsl --import`): the body is a root filesystem tar, plain, gzip or xz, streamed (send `application/octet-stream` or the archive\'s type; a body without one is refused with 415 before it is read), unpacked into `location` (default under the service\'s state folder) as the caller\'s user namespace sees it. 201 with the distribution and Location; `warnings` lists what could not be imported as the archive said.',
        tags: ['distributions'],
        summary: 'Register a distribution from a root filesystem tar (plain, gzip or xz) sent as the body',
        querystring: ImportQuery,
        body: { content: Object.fromEntries(ARCHIVE_MEDIA_TYPES.map((type) => [type, { schema: ArchiveBody }])) },
        response: { 201: ref(ImportedDistributionSchema, 'Imported and registered; Location names the new distribution', LOCATION_HEADER), ...problemResponses(400, 404, 409, 413, 415, 507) },
      },
      // A large archive takes as long as it takes; one that stops arriving is cut (body-timeouts plugin).
      config: { streamedBody: true },
      // Refused before the archive was read: close the connection rather than read gigabytes for nothing.
      onError: async (request, reply) => {
        if (!request.raw.readableEnded) reply.header('connection', 'close');
      },
      preValidation: async (request) => {
        const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (!ARCHIVE_MEDIA_TYPES.includes(type)) {
          throw new LxssError('LXSSD_E_UNSUPPORTED_MEDIA_TYPE', `send the archive as one of ${ARCHIVE_MEDIA_TYPES.join(', ')}`);
        }
      },
    },
    async (request, reply) => {
      const distributions = await distributionsOf(app, request);
      const created = await distributions.import(request.query.name, request.body as Readable, request.query.location);
      return reply.code(201).header('location', `/v1/distributions/${created.id}`).send(created);
    },
  );

  app.get(
    '/distributions',
    {
      schema: {
        operationId: 'listDistributions',
        description:
          'WSL\'s EnumerateDistributions (`wsl -l -v`): the caller\'s distributions, including ones being installed, oldest first, a page at a time, with the id of the default.',
        tags: ['distributions'],
        summary: "The caller's distributions, including ones being installed, oldest first, a page at a time",
        querystring: PageQuery,
        response: { 200: ref(DistributionListSchema, 'A page of your distributions'), ...problemResponses(400) },
      },
    },
    async (request) => {
      const distributions = (await distributionsOf(app, request)).list();
      const page = pageByKey(distributions, (d) => `${d.createdAt} ${d.id}`, request.query);
      return {
        distributions: page.items,
        defaultDistribution: distributions.find((d) => d.isDefault)?.id ?? null,
        next: page.next,
      };
    },
  );

  app.get(
    '/distributions/:distro',
    {
      schema: {
        operationId: 'getDistribution',
        description:
          'WSL\'s GetDistributionConfiguration: one distribution, by id, name (case-insensitive) or `@default`.',
        tags: ['distributions'],
        summary: 'One distribution, by id or name',
        params: DistroParams,
        response: { 200: ref(DistributionSchema, 'The distribution'), ...problemResponses(404) },
      },
    },
    async (request) => (await distributionsOf(app, request)).get(request.params.distro),
  );

  app.patch(
    '/distributions/:distro',
    {
      schema: {
        operationId: 'configureDistribution',
        description:
          'WSL\'s ConfigureDistribution (`wsl --manage ... --set-default-user`) and a rename: changes only the members sent (at least one).',
        tags: ['distributions'],
        summary: 'Rename, or set the default user, flags or default environment',
        params: DistroParams,
        body: ref(PatchDistributionBody),
        response: { 200: ref(DistributionSchema, 'The distribution as configured now'), ...problemResponses(400, 404, 409, 507) },
      },
    },
    async (request) => (await distributionsOf(app, request)).configure(request.params.distro, request.body),
  );

  app.delete(
    '/distributions/:distro',
    {
      schema: {
        operationId: 'unregisterDistribution',
        description:
          'WSL\'s UnregisterDistribution (`wsl --unregister`): terminates the distribution if it runs, then removes its registration and its files. 204, no body.',
        tags: ['distributions'],
        summary: 'Unregister: stop it if running and remove its files',
        params: DistroParams,
        response: { 204: Type.Null({ description: 'Unregistered' }), ...problemResponses(404, 409, 507) },
      },
    },
    async (request, reply) => {
      await (await distributionsOf(app, request)).unregister(request.params.distro);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/distributions/:distro/export',
    {
      // A download link cannot carry a header: a one-time export ticket (POST /v1/tickets) may stand in for it.
      config: { ticket: 'export' },
      schema: {
        operationId: 'exportDistribution',
        tags: ['distributions'],
        summary: 'Stream the root filesystem as a tar, with owners as the distribution sees them',
        description:
          'As in WSL, a running instance is stopped first; the distribution is Exporting until the end. A browser download link authenticates with `?ticket=` (a one-time export ticket, `POST /v1/tickets`), good only for the distribution and format it was made for (else 403).',
        params: DistroParams,
        querystring: ExportQuery,
        response: {
          200: {
            description: 'The archive',
            headers: {
              'Content-Disposition': Type.String({
                description: '`attachment; filename="<name>.<format>"`: the file a browser or `curl -OJ` saves it as',
              }),
            },
            content: Object.fromEntries(Object.values(EXPORT_MEDIA_TYPES).map((type) => [type, { schema: ArchiveBody }])),
          },
          ...problemResponses(400, 403, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const format = request.query.format ?? 'tar';
      const distributions = await distributionsOf(app, request);
      const { ticket } = request;
      if (ticket?.purpose === 'export' && (ticket.distributionId !== distributions.get(request.params.distro).id || ticket.format !== format)) {
        throw new LxssError('E_ACCESSDENIED', 'this ticket is for another distribution or format');
      }
      const { name, stream } = await distributions.export(request.params.distro, format);
      return reply
        .type(EXPORT_MEDIA_TYPES[format])
        .header('content-disposition', `attachment; filename="${name}.${format}"`)
        // The schema says "binary string" for the document; the body really is the stream.
        .send(stream as never);
    },
  );

  app.post(
    '/distributions/:distro/move',
    {
      schema: {
        operationId: 'moveDistribution',
        description:
          'WSL\'s MoveDistribution (`wsl --manage --move`): moves the distribution\'s files to another host folder the caller may write; it must be stopped (409 WSL_E_DISTRO_NOT_STOPPED).',
        tags: ['distributions'],
        summary: 'Move the files to another host folder',
        params: DistroParams,
        body: ref(MoveBody),
        response: { 200: ref(DistributionSchema, 'The distribution at its new location'), ...problemResponses(400, 404, 409, 507) },
      },
    },
    async (request) => (await distributionsOf(app, request)).move(request.params.distro, request.body.location),
  );

  app.get(
    '/default-distribution',
    {
      schema: {
        operationId: 'getDefaultDistribution',
        description:
          'WSL\'s GetDefaultDistribution: the distribution `@default` and a bare `lxss` use (404 WSL_E_DEFAULT_DISTRO_NOT_FOUND when there is none).',
        tags: ['distributions'],
        summary: "The caller's default distribution",
        response: { 200: ref(DistributionSchema, 'Your default distribution'), ...problemResponses(404) },
      },
    },
    async (request) => (await distributionsOf(app, request)).getDefault(),
  );

  app.put(
    '/default-distribution',
    {
      schema: {
        operationId: 'setDefaultDistribution',
        description:
          'WSL\'s SetDefaultDistribution (`wsl -s`): makes a distribution, by id or name, the caller\'s default.',
        tags: ['distributions'],
        summary: 'Make a distribution the default',
        body: ref(SetDefaultBody),
        response: { 200: ref(DistributionSchema, 'The new default distribution'), ...problemResponses(400, 404, 409, 507) },
      },
    },
    async (request) => (await distributionsOf(app, request)).setDefault(request.body.distro),
  );
};
