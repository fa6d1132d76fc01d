// /v1/tickets and /v1/login-codes: one-time secrets for browsers. A ticket stands in for the bearer header on
// the two routes a page can only give a URL to; a login code, minted on the local socket, becomes a dashboard
// token once (`lxssd open` puts it in the URL's fragment).

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Static } from '@sinclair/typebox';
import type { AddressInfo } from 'node:net';
import { LxssError } from '../core/errors.js';
import type { TicketRequest } from '../core/service.js';
import { callerOf } from './caller.js';
import { problemResponses, publicProblemResponses } from './problem.schemas.js';
import { ref } from './schema-helpers.js';
import { DashboardTokenSchema, LoginCodeSchema, LoginExchangeBody, TicketBody, TicketSchema } from './tickets.schemas.js';

function ticketRequest(body: Static<typeof TicketBody>): TicketRequest {
  if (body.purpose === 'events') {
    if (body.distro !== undefined || body.format !== undefined) throw new LxssError('E_INVALIDARG', 'an events ticket takes no distro or format');
    return { purpose: 'events' };
  }
  if (body.distro === undefined) throw new LxssError('E_INVALIDARG', 'an export ticket needs the distro it downloads');
  return { purpose: 'export', distro: body.distro, format: body.format ?? 'tar' };
}

export const ticketRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/tickets',
    {
      schema: {
        operationId: 'mintTicket',
        description:
          'A one-time ticket for what a browser can only do by URL: a download link for an export, or an EventSource for the events. It is good for one request within 60 s, given as `?ticket=` on the route it was made for (and only there), for the caller’s SID; revoking the token that made it voids it. Not a token: it authenticates nothing else.',
        tags: ['tokens'],
        summary: 'Mint a one-time ticket for a download link or an EventSource',
        body: ref(TicketBody),
        response: { 201: ref(TicketSchema, 'The ticket'), ...problemResponses(400, 404, 409) },
      },
    },
    async (request, reply) => reply.code(201).send(await app.lxss.mintTicket(callerOf(request), ticketRequest(request.body))),
  );

  app.post(
    '/login-codes',
    {
      schema: {
        operationId: 'mintLoginCode',
        description:
          'A one-time login code for the dashboard (what `lxssd open` prints): only on the local socket, where the OS proves the caller. Exchanged once within 60 s, by `POST /v1/login-codes/exchange`, for a dashboard token of the caller’s SID. The `url` carries it in the fragment (`#login=`), which browsers never send to a server.',
        tags: ['tokens'],
        summary: 'Mint a one-time dashboard login code (local socket only)',
        response: { 201: ref(LoginCodeSchema, 'The code, and the dashboard URL that carries it'), ...problemResponses(409) },
      },
    },
    async (request, reply) => {
      const { code, expiresAt } = app.lxss.mintLoginCode(callerOf(request));
      const address = app.server.address() as AddressInfo | null;
      const host = address ? (address.family === 'IPv6' ? `[${address.address}]` : address.address) : '127.0.0.1';
      const url = `http://${host}:${address?.port ?? 7071}/#login=${code}`;
      return reply.code(201).send({ code, expiresAt, url });
    },
  );

  app.post(
    '/login-codes/exchange',
    {
      config: { public: true },
      schema: {
        operationId: 'exchangeLoginCode',
        description:
          'Spends a login code for a token labelled `dashboard` that lives 12 hours, of the SID that minted the code. A code is good once: a second exchange, an expired or unknown code is a 401 (and counts as a failed sign-in).',
        tags: ['tokens'],
        summary: 'Exchange a login code for a dashboard token (once)',
        security: [],
        body: ref(LoginExchangeBody),
        response: { 201: ref(DashboardTokenSchema, 'The dashboard token: the secret is in this answer only'), 401: problemResponses()[401]!, ...publicProblemResponses(400) },
      },
    },
    async (request, reply) => {
      const minted = await app.lxss.exchangeLoginCode(request.body.code);
      if (!minted) {
        app.lxss.authLimiter.recordFailure(request.ip);
        throw new LxssError('ERROR_NOT_AUTHENTICATED', 'the login code is unknown, used or expired: run `lxssd open` again');
      }
      return reply.code(201).send({ token: minted.token, expiresAt: minted.info.expiresAt! });
    },
  );
};
