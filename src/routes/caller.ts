// Handlers' one way to the caller and its session.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Distributions } from '../core/distributions.js';
import { LxssError } from '../core/errors.js';
import type { Caller } from '../core/identity.js';
import type { UserSession } from '../core/session.js';
import './fastify-types.js';

/** The authenticated caller; only public routes have none, and they must not ask. */
export function callerOf(request: FastifyRequest): Caller {
  if (!request.caller) throw new LxssError('E_UNEXPECTED', 'route reached without an authenticated caller');
  return request.caller;
}

/** The caller's own session: there is no way to name another user's. */
export function sessionOf(app: FastifyInstance, request: FastifyRequest): UserSession {
  return app.lxss.sessionOf(callerOf(request));
}

/** The caller's own distributions. */
export function distributionsOf(app: FastifyInstance, request: FastifyRequest): Promise<Distributions> {
  return sessionOf(app, request).distributions();
}
