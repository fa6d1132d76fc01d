// Establishes request.caller for /v1 routes: on the local socket from the kernel-proven peer uid; on TCP
// from a bearer token (header, or the `lxss.token.<token>` WebSocket subprotocol — never the query string), or
// on the few routes a browser can only reach by URL, from a one-time ticket (`?ticket=`, not a token).
// The token is checked first: a valid one is never refused. Only failures reach the limiter, which answers
// 429 (and closes the connection) once the address, or all addresses together, failed too often.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Socket } from 'node:net';
import { LxssError } from '../../core/errors.js';
import type { Caller } from '../../core/identity.js';
import type { PeerCredentials } from '../../hv/index.js';
import '../fastify-types.js';

export const TOKEN_SUBPROTOCOL_PREFIX = 'lxss.token.';

export interface AuthenticateOptions {
  localPeerOf(socket: Socket): PeerCredentials | undefined;
  /**
   * A TCP connection proved who its caller is; false when that caller holds too many connections already
   * (the connection guard's per-user cap).
   */
  onAuthenticated?(socket: Socket, caller: Caller): boolean;
}

function presentedToken(request: FastifyRequest): string | undefined {
  const authorization = request.headers.authorization;
  if (authorization !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    return match?.[1] ?? '';
  }
  if (request.headers.upgrade?.toLowerCase() === 'websocket') {
    const offered = (request.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    const carried = offered.find((protocol) => protocol.startsWith(TOKEN_SUBPROTOCOL_PREFIX));
    return carried?.slice(TOKEN_SUBPROTOCOL_PREFIX.length);
  }
  return undefined;
}

/** The `?ticket=` of a request to a route that takes tickets, when it carries no token. */
function presentedTicket(request: FastifyRequest): string | undefined {
  if (request.routeOptions.config.ticket === undefined || request.headers.authorization !== undefined) return undefined;
  const ticket = (request.query as Record<string, unknown> | undefined)?.ticket;
  return typeof ticket === 'string' ? ticket : undefined;
}

function identify(app: FastifyInstance, options: AuthenticateOptions, request: FastifyRequest): Caller {
  const peer = options.localPeerOf(request.raw.socket);
  if (peer) return app.lxss.localCaller(peer.sid);

  const ticket = presentedTicket(request);
  if (ticket !== undefined) {
    const redeemed = app.lxss.redeemTicket(ticket, request.routeOptions.config.ticket!);
    if (redeemed) {
      request.ticket = redeemed.binding;
      return redeemed.caller;
    }
    app.lxss.authLimiter.recordFailure(request.ip);
    throw new LxssError('ERROR_NOT_AUTHENTICATED', 'the ticket is unknown, used, expired, revoked with its token, or not for this route');
  }

  const token = presentedToken(request);
  const caller = token ? app.lxss.tokenCaller(token) : undefined;
  if (caller) {
    if (options.onAuthenticated && !options.onAuthenticated(request.raw.socket, caller)) {
      throw new LxssError('LXSSD_E_OUT_OF_RESOURCES', 'you hold too many connections to the service; close some and retry', {
        retryAfter: 1,
      });
    }
    return caller;
  }
  // Throws the 429 when this address, or every address together, failed too often lately.
  app.lxss.authLimiter.recordFailure(request.ip);
  throw new LxssError(
    'ERROR_NOT_AUTHENTICATED',
    token === undefined
      ? 'send "Authorization: Bearer <token>"; get a token with `lxssd token` (over the local socket)'
      : 'the token is unknown, revoked or expired',
  );
}

/** Registered inside the /v1 scope (not with fastify-plugin), so it guards exactly the API routes. */
export async function authenticate(app: FastifyInstance, options: AuthenticateOptions): Promise<void> {
  app.decorateRequest('caller', null);
  app.decorateRequest('ticket', null);
  // A callback hook: every API request runs it, and an async one costs each a promise.
  app.addHook('onRequest', (request, reply, done) => {
    if (request.routeOptions.config.public) return done();
    try {
      request.caller = identify(app, options, request);
    } catch (error) {
      // A client over the failure limit reconnects for its next attempt: each one costs it a new connection.
      if (error instanceof LxssError && error.code === 'LXSSD_E_TOO_MANY_AUTH_FAILURES') reply.header('connection', 'close');
      return done(error as Error);
    }
    done();
  });
}
