// A process's stdio for curl and plain HTTP clients: GET /v1/processes/{id}/output streams its output (raw bytes or
// NDJSON ending with the exit status), POST /v1/processes/{id}/stdin streams a request body into its stdin. Both
// read the same never-dropped log and obey the same one-stdin-writer rule as the stdio WebSocket (stdio.ts).

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { pipeToStdin, ProcessOutputStream } from '../core/process-stdio.js';
import { callerOf } from './caller.js';
import { problemResponses } from './problem.schemas.js';
import { ProcessParams } from './processes.schemas.js';
import {
  EXIT_CODE_TRAILER,
  OUTPUT_DESCRIPTION,
  OutputQuery,
  STDIN_DESCRIPTION,
  STDIN_MEDIA_TYPE,
  StdinBody,
  StdinQuery,
} from './stdio-http.schemas.js';
import { holdStreamSlot } from './stream-slots.js';
import { whenTokenEnds } from './token-lifetime.js';

const NDJSON = 'application/x-ndjson';

/** Whether the request has body bytes to come (a POST with neither a length nor chunks has none). */
function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

export const stdioHttpRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Here only (this plugin's own context): stdin bytes are handed over as the stream they are, never parsed or
  // buffered. Any other type is refused before a byte is read (problem-details, from the body schema's types).
  app.addContentTypeParser(STDIN_MEDIA_TYPE, (_request, payload, done) => done(null, payload));

  const processesOf = (request: FastifyRequest) => app.lxss.sessionOf(callerOf(request)).processes();
  // What the service's close must end: a follower or an upload would otherwise hold it open.
  const open = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of [...open]) end();
  });
  /** Runs `end` when the service closes or the token ends, until the response is over. */
  const endWith = (request: FastifyRequest, reply: FastifyReply, end: () => void) => {
    open.add(end);
    const unwatch = whenTokenEnds(app, request, end);
    const stop = () => {
      open.delete(end);
      unwatch();
    };
    // The response, not the connection: a keep-alive connection outlives it.
    reply.raw.once('close', stop);
    return stop;
  };

  app.get(
    '/processes/:id/output',
    {
      // A HEAD would read (and so take) output no one receives.
      exposeHeadRoute: false,
      schema: {
        operationId: 'getProcessOutput',
        tags: ['processes'],
        summary: 'The process’s output over plain HTTP (for curl -N): raw bytes or NDJSON ending with the exit status',
        description: OUTPUT_DESCRIPTION,
        params: ProcessParams,
        querystring: OutputQuery,
        response: {
          200: {
            description: 'The output (chunked); raw: a lxssd-exit-code trailer when it ended with the exit',
            headers: {
              Trailer: {
                type: 'string',
                description: `raw format: \`${EXIT_CODE_TRAILER}\`, the trailer that carries the exit code when the stream ends with the exit`,
              },
            },
            content: {
              'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
              [NDJSON]: {
                schema: {
                  type: 'string',
                  description:
                    'lines {"stream":"stdout"|"stderr","data":"...","encoding"?:"base64"}, the last {"exit":{"exitCode":N,"signal":S|null}}',
                },
              },
            },
          },
          ...problemResponses(400, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const entry = (await processesOf(request)).get(request.params.id);
      const { follow = false, stream = 'both', format = 'raw' } = request.query;
      if (follow) holdStreamSlot(app, request, reply);
      const output = new ProcessOutputStream(entry, { follow, stream, format });
      // Cut short (shutdown, token ended): the client sees a response that did not end, never a clean end.
      const stop = endWith(request, reply, () => output.destroy(new Error('the output stream was ended by the service')));
      output.once('close', stop);
      reply.header('cache-control', 'no-store').type(format === 'ndjson' ? NDJSON : 'application/octet-stream');
      if (format === 'raw') {
        reply.trailer(EXIT_CODE_TRAILER, async () => {
          if (!output.exitStatus) throw new Error('the stream ended before the exit'); // no trailer then
          return String(output.exitStatus.exitCode);
        });
      }
      // A stream, not a string: the schema documents the bytes it carries.
      return reply.send(output as never);
    },
  );

  app.post(
    '/processes/:id/stdin',
    {
      schema: {
        operationId: 'writeProcessStdin',
        tags: ['processes'],
        summary: 'Stream the request body into the process’s stdin (for curl -T); eof=true closes it after',
        description: STDIN_DESCRIPTION,
        params: ProcessParams,
        querystring: StdinQuery,
        body: { content: { [STDIN_MEDIA_TYPE]: { schema: StdinBody } } },
        response: {
          204: Type.Null({ description: 'All of the body was written to stdin (and stdin closed with eof=true)' }),
          ...problemResponses(400, 404, 409, 415),
        },
      },
      // The body takes as long as the process takes to read it; one that stops arriving is cut (body-timeouts).
      config: { streamedBody: true },
      // Refused before the body was read: close the connection rather than read it for nothing.
      onError: async (request, reply) => {
        if (!request.raw.readableEnded) reply.header('connection', 'close');
      },
      // `curl -T` sends no Content-Type: bytes without a type are stdin bytes all the same. (Runs before the
      // problem-details plugin's check of the type, which it appends after the route's own hooks.)
      onRequest: async (request) => {
        if (request.headers['content-type'] === undefined) request.raw.headers['content-type'] = STDIN_MEDIA_TYPE;
      },
    },
    async (request, reply) => {
      const entry = (await processesOf(request)).get(request.params.id);
      const body = hasBody(request) ? (request.body as Readable) : undefined;
      if (body) holdStreamSlot(app, request, reply);
      const stop = endWith(request, reply, () => request.raw.destroy(new Error('the stdin upload was ended by the service')));
      try {
        await pipeToStdin(entry, body, request.query.eof ?? false);
      } finally {
        stop();
      }
      return reply.code(204).send(null);
    },
  );
};
