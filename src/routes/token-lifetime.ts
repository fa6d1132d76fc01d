// Streams live as long as what authenticated them: a revoked or expired token ends its open WebSockets and
// event streams, as it would refuse their next request.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { callerOf } from './caller.js';

/** WebSocket close code for a stream whose token was revoked or expired (4000 + HTTP 401). */
export const CLOSE_TOKEN_ENDED = 4401;
const TOKEN_ENDED_REASON = JSON.stringify({ code: 'ERROR_NOT_AUTHENTICATED', detail: 'the token was revoked or expired' });

/** Closes `socket` with CLOSE_TOKEN_ENDED when the request's token ends. */
export function closeWhenTokenEnds(app: FastifyInstance, request: FastifyRequest, socket: WebSocket): void {
  const stop = app.lxss.whenCallerEnds(callerOf(request), () => socket.close(CLOSE_TOKEN_ENDED, TOKEN_ENDED_REASON));
  socket.once('close', stop);
}

/** Calls `end` when the request's token ends; returns the function that stops watching. */
export function whenTokenEnds(app: FastifyInstance, request: FastifyRequest, end: () => void): () => void {
  return app.lxss.whenCallerEnds(callerOf(request), end);
}
