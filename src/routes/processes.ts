// Processes as resources: create (CreateLxProcess), list, read, signal, resize, forget; and `run` for curl.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { signalNumber } from '../core/processes.js';
import { callerOf, sessionOf } from './caller.js';
import { DistroParams } from './distributions.schemas.js';
import { PageQuery, pageOf } from './paging.js';
import { problemResponses } from './problem.schemas.js';
import {
  CreateProcessBody,
  ProcessListSchema,
  ProcessParams,
  ProcessSchema,
  ResizeBody,
  RUN_BODY_LIMIT,
  RUN_DESCRIPTION,
  RunBody,
  RunQuery,
  RunResultSchema,
  SignalBody,
  START_MODES_DESCRIPTION,
} from './processes.schemas.js';
import { runAnswer } from './run-answer.js';
import { LOCATION_HEADER, ref } from './schema-helpers.js';

export const processRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const processesOf = (request: FastifyRequest) => sessionOf(app, request).processes();

  app.post(
    '/distributions/:distro/processes',
    {
      schema: {
        operationId: 'createProcess',
        tags: ['processes'],
        summary: 'Start a process (and the distribution if it is not running); attach to /v1/processes/{id}/stdio',
        description: START_MODES_DESCRIPTION,
        params: DistroParams,
        body: ref(CreateProcessBody),
        response: { 201: ref(ProcessSchema, 'Started (or, exit code 125/126/127, could not be): Location names the process', LOCATION_HEADER), ...problemResponses(400, 404, 409, 503) },
      },
    },
    async (request, reply) => {
      const entry = await (await processesOf(request)).create(request.params.distro, request.body);
      return reply.code(201).header('location', `/v1/processes/${entry.id}`).send(entry.view());
    },
  );

  app.get(
    '/distributions/:distro/processes',
    {
      schema: {
        operationId: 'listDistributionProcesses',
        description:
          'The caller\'s processes in one distribution, running and recently exited, oldest first, a page at a time, argv summarised (GET /v1/processes/{id} has all of it).',
        tags: ['processes'],
        summary: "The caller's processes in one distribution, oldest first, a page at a time (argv summarised)",
        params: DistroParams,
        querystring: PageQuery,
        response: { 200: ref(ProcessListSchema, 'A page of the distribution’s processes'), ...problemResponses(400, 404) },
      },
    },
    async (request) => {
      const page = await sessionOf(app, request).processesOf(request.params.distro, pageOf(request.query));
      return { processes: page.items, next: page.next };
    },
  );

  app.get(
    '/processes',
    {
      schema: {
        operationId: 'listProcesses',
        description:
          'The caller\'s processes in every distribution, running and recently exited, oldest first, a page at a time, argv summarised.',
        tags: ['processes'],
        summary: "The caller's processes, running and recently exited, oldest first, a page at a time (argv summarised)",
        querystring: PageQuery,
        response: { 200: ref(ProcessListSchema, 'A page of your processes'), ...problemResponses(400) },
      },
    },
    async (request) => {
      const page = (await processesOf(request)).list(undefined, pageOf(request.query));
      return { processes: page.items, next: page.next };
    },
  );

  app.get(
    '/processes/:id',
    {
      schema: {
        operationId: 'getProcess',
        description:
          'One process of the caller\'s: its state, exit code and signal once it exited, its times, and all of its argv.',
        tags: ['processes'],
        summary: 'One process: state, exit code, signal, times, and all of its argv',
        params: ProcessParams,
        response: { 200: ref(ProcessSchema, 'The process, with all of its argv'), ...problemResponses(404) },
      },
    },
    async (request) => (await processesOf(request)).get(request.params.id).view(),
  );

  app.post(
    '/processes/:id/signal',
    {
      schema: {
        operationId: 'signalProcess',
        description:
          'Sends a signal, by name or number, to the process. 204, no body; 409 E_ILLEGAL_STATE_CHANGE when it has exited.',
        tags: ['processes'],
        summary: 'Send a signal (to the process group of a terminal session)',
        params: ProcessParams,
        body: ref(SignalBody),
        response: { 204: Type.Null({ description: 'Sent' }), ...problemResponses(400, 404, 409) },
      },
    },
    async (request, reply) => {
      const entry = (await processesOf(request)).get(request.params.id);
      await entry.signal(signalNumber(request.body.signal));
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/processes/:id/resize',
    {
      schema: {
        operationId: 'resizeProcess',
        description:
          'Resizes the terminal of a process started with `tty` (the process gets SIGWINCH), as WSL\'s ResizeConsole; 409 LXSSD_E_NOT_A_TERMINAL for a process with pipes. 204, no body.',
        tags: ['processes'],
        summary: 'Resize the terminal of a tty process (409 for a process with pipes)',
        params: ProcessParams,
        body: ref(ResizeBody),
        response: { 204: Type.Null({ description: 'Resized' }), ...problemResponses(400, 404, 409) },
      },
    },
    async (request, reply) => {
      await (await processesOf(request)).get(request.params.id).resize(request.body.cols, request.body.rows);
      return reply.code(204).send(null);
    },
  );

  app.delete(
    '/processes/:id',
    {
      schema: {
        operationId: 'deleteProcess',
        description:
          'Kills the process (SIGKILL) if it is running and forgets it: its id is a 404 afterwards. 204, no body.',
        tags: ['processes'],
        summary: 'Kill it if it runs, then forget it',
        params: ProcessParams,
        response: { 204: Type.Null({ description: 'Gone' }), ...problemResponses(404) },
      },
    },
    async (request, reply) => {
      await (await processesOf(request)).remove(request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/distributions/:distro/run',
    {
      // Room for the schema's 16 MiB of stdin once it is JSON-escaped.
      bodyLimit: RUN_BODY_LIMIT,
      schema: {
        operationId: 'runProcess',
        tags: ['processes'],
        summary: 'Run to completion and return exit code and output (for curl); output capped, time limited',
        description: RUN_DESCRIPTION,
        params: DistroParams,
        querystring: RunQuery,
        body: ref(RunBody),
        response: { 200: ref(RunResultSchema, 'The program ran (or could not start: exit code 125/126/127 and error); its exit code and output'), ...problemResponses(400, 404, 409, 503, 504) },
      },
    },
    async (request, reply) => {
      const encoding = request.query.encoding ?? 'utf8';
      const { timeoutMs = 60000, maxOutputBytes = 1048576, ...rest } = request.body;
      const result = await (await processesOf(request)).run(request.params.distro, { ...rest, timeoutMs, maxOutputBytes });
      // The output stays reserved against maxRunOutputBytes until the answer has gone (or the client has).
      reply.raw.once('close', () => result.release());
      // A stream, not an object: the schema's RunResultSchema is what runAnswer writes, member by member.
      return reply.type('application/json; charset=utf-8').send(runAnswer(result, encoding) as never);
    },
  );
};
