// Every WebSocket and event stream holds one of its user's maxStreams places until its connection or response
// ends: each may buffer up to 1 MiB for a slow reader, so their number must be bounded too.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { callerOf } from './caller.js';

/** Takes a place for the request's stream (LXSSD_E_TOO_MANY_STREAMS when none is left); call before it opens. */
export function holdStreamSlot(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply): void {
  const release = app.lxss.sessionOf(callerOf(request)).openStream();
  // A WebSocket owns its connection; an event stream is one response on a connection that may outlive it.
  request.raw.socket.once('close', release);
  reply.raw.once('close', release);
}
