// Browser-facing guards for the TCP listener: a Host header that is not one of our literal loopback
// authorities is refused (DNS rebinding), and so is any request — WebSocket upgrades included — whose
// Origin is not our own. Local-socket connections are out of a browser's reach and skip both.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Socket } from 'node:net';
import { LxssError } from '../../core/errors.js';

export interface LoopbackGuardOptions {
  isLocalConnection(socket: Socket): boolean;
}

/** `localhost:PORT` and the literal address the connection arrived on; never a name DNS could answer. */
export function allowedAuthorities(socket: Socket): string[] {
  const port = socket.localPort;
  const address = socket.localAddress;
  if (port === undefined || address === undefined) return [];
  const literal = address.includes(':') ? `[${address}]` : address;
  const authorities = [`localhost:${port}`, `${literal}:${port}`];
  if (port === 80) authorities.push('localhost', literal);
  return authorities;
}

function checkRequest(request: FastifyRequest): void {
  const authorities = allowedAuthorities(request.raw.socket);
  const host = request.headers.host?.toLowerCase();
  if (!host || !authorities.includes(host)) {
    throw new LxssError(
      'LXSSD_E_HOST_NOT_ALLOWED',
      `Host "${host ?? ''}" is not this server; use one of ${authorities.join(', ')}`,
    );
  }
  const origin = request.headers.origin;
  if (origin !== undefined && !authorities.some((authority) => origin.toLowerCase() === `http://${authority}`)) {
    throw new LxssError('LXSSD_E_ORIGIN_NOT_ALLOWED', `Origin "${origin}" may not call this server`);
  }
}

async function loopbackGuard(app: FastifyInstance, options: LoopbackGuardOptions): Promise<void> {
  // A callback hook (every request runs it; an async one costs each a promise); checkRequest throws its refusal.
  app.addHook('onRequest', (request, _reply, done) => {
    try {
      if (!options.isLocalConnection(request.raw.socket)) checkRequest(request);
    } catch (error) {
      return done(error as Error);
    }
    done();
  });
}

export default fp(loopbackGuard, { name: 'lxssd-loopback-guard' });
