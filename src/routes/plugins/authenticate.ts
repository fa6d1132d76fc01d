// Establishes request.caller for /v1 routes: on the local socket from the kernel-proven peer uid; on TCP
// from a bearer token (header, or the `lxss.token.<token>` WebSocket subprotocol — never the query string).
// Failed attempts count against the client address; over the limit the address gets 429.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Socket } from 'node:net';
import { LxssError } from '../../core/errors.js';
import type { Caller } from '../../core/identity.js';
import type { PeerCredentials } from '../../hv/index.js';
import '../fastify-types.js';

export const TOKEN_SUBPROTOCOL_PREFIX = 'lxss.token.';

export interface AuthenticateOptions {
  localPeerOf(socket: Socket): PeerCredentials | undefined;
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

function identify(app: FastifyInstance, options: AuthenticateOptions, request: FastifyRequest): Caller {
  const peer = options.localPeerOf(request.raw.socket);
  if (peer) return app.lxss.localCaller(peer.uid);

  const address = request.ip;
  app.lxss.authLimiter.check(address);
  const token = presentedToken(request);
  const caller = token ? app.lxss.tokenCaller(token) : undefined;
  if (caller) return caller;
  app.lxss.authLimiter.recordFailure(address);
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
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config.public) return;
    request.caller = identify(app, options, request);
  });
}
