// /v1/tokens: mint (local socket only), list and revoke the caller's SID tokens.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { callerOf } from './caller.js';
import { pageByKey } from './paging.js';
import { problemResponses } from './problem.schemas.js';
import { LOCATION_HEADER, ref } from './schema-helpers.js';
import { MintedTokenSchema, MintTokenBody, TokenIdParams, TokenListQuery, TokenListSchema } from './tokens.schemas.js';

export const tokenRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/tokens',
    {
      // Every field is optional, so `curl -X POST` with no body at all mints a token with the defaults.
      preValidation: async (request) => {
        request.body ??= {};
      },
      schema: {
        operationId: 'mintToken',
        description:
          'Mints a bearer token for TCP callers (WSL has none: its callers are proven by COM). Only on the local socket, where the kernel proves the caller; root may mint for another SID. The secret is in this answer only: the service keeps a hash.',
        tags: ['tokens'],
        summary: 'Mint a SID token for the caller (local socket only, root included; root may mint for another SID)',
        body: ref(MintTokenBody),
        response: { 201: ref(MintedTokenSchema, 'Minted: the secret is in this answer only; Location names the token', LOCATION_HEADER), ...problemResponses(400, 409, 507) },
      },
    },
    async (request, reply) => {
      const minted = await app.lxss.mintToken(callerOf(request), request.body);
      return reply.code(201).header('location', `/v1/tokens/${minted.info.id}`).send(minted);
    },
  );

  app.get(
    '/tokens',
    {
      schema: {
        operationId: 'listTokens',
        description:
          'The caller\'s tokens, oldest first, a page at a time, never their secrets; root may name another SID or `*` for everyone\'s.',
        tags: ['tokens'],
        summary: "List the caller's tokens (never their secrets), oldest first, a page at a time; root may list another SID's or everyone's",
        querystring: TokenListQuery,
        response: { 200: ref(TokenListSchema, 'A page of tokens (never their secrets)'), ...problemResponses(400, 403) },
      },
    },
    async (request) => {
      const { sid, ...query } = request.query;
      const page = pageByKey(app.lxss.listTokens(callerOf(request), sid), (token) => `${token.createdAt} ${token.id}`, query);
      return { tokens: page.items, next: page.next };
    },
  );

  app.delete(
    '/tokens/:id',
    {
      schema: {
        operationId: 'revokeToken',
        description:
          'Revokes a token at once: it is refused from the next request, and WebSockets and event streams opened with it are closed. A caller revokes its own; root anyone\'s. 204, no body.',
        tags: ['tokens'],
        summary: 'Revoke one of the caller’s tokens (root: anyone’s); streams opened with it are closed',
        params: TokenIdParams,
        response: { 204: Type.Null({ description: 'Revoked' }), ...problemResponses(400, 404, 507) },
      },
    },
    async (request, reply) => {
      await app.lxss.revokeToken(callerOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );
};
