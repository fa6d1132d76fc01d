// The route table: every /v1 resource, in one explicit list, behind authentication.

import type { FastifyPluginAsync } from 'fastify';
import { authenticate, type AuthenticateOptions } from './plugins/authenticate.js';
import { eventRoutes } from './events.js';
import { distributionRoutes } from './distributions.js';
import { instanceRoutes } from './instances.js';
import { mountRoutes } from './mounts.js';
import { declareInputProblems } from './problem.schemas.js';
import { processRoutes } from './processes.js';
import { stdioRoutes } from './stdio.js';
import { stdioHttpRoutes } from './stdio-http.js';
import { sessionRoutes } from './session.js';
import { ticketRoutes } from './tickets.js';
import { tokenRoutes } from './tokens.js';
import { versionRoutes } from './version.js';

const ROUTES = [versionRoutes, sessionRoutes, tokenRoutes, ticketRoutes, distributionRoutes, instanceRoutes, mountRoutes, processRoutes, stdioRoutes, stdioHttpRoutes, eventRoutes];

export const v1Routes: FastifyPluginAsync<AuthenticateOptions> = async (app, options) => {
  app.addHook('onRoute', (route) => declareInputProblems(route.schema, route.method));
  await authenticate(app, options);
  for (const routes of ROUTES) await app.register(routes);
};
