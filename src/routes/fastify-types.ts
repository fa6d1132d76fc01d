// What lxssd adds to Fastify's types: the service on the instance, the caller on each request, and the
// route config flags (no authentication needed; a WebSocket route).

import type { Caller } from '../core/identity.js';
import type { LxssService, TicketBinding, TicketPurpose } from '../core/service.js';

declare module 'fastify' {
  interface FastifyInstance {
    lxss: LxssService;
  }
  interface FastifyRequest {
    /** set by the authenticate plugin for every /v1 route that is not public */
    caller: Caller | null;
    /** what the one-time ticket this request came with allows (null: it came with a token or on the socket) */
    ticket: TicketBinding | null;
  }
  interface FastifyContextConfig {
    /** true: no caller identity needed (e.g. /v1/version) */
    public?: boolean;
    /** set by the problem-details plugin on WebSocket routes: an upgrade to any other route is refused */
    websocket?: boolean;
    /** true: the body is streamed to its consumer (an import), so only its idle time is bounded, not its length */
    streamedBody?: boolean;
    /** this route also takes a one-time ticket (`?ticket=`) made for this purpose, in place of a token */
    ticket?: TicketPurpose;
  }
}

export {};
