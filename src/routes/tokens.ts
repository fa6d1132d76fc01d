// /v1/tokens: mint (local socket only), list and revoke the caller's SID tokens.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ref } from './schema-helpers.js';
import { Type } from '@sinclair/typebox';
import { callerOf } from './caller.js';
import { pageByKey } from './paging.js';
import { problemResponses } from './problem.schemas.js';
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
        tags: ['tokens'],
        summary: 'Mint a SID token for the caller (local socket only, root included; root may mint for another SID)',
        body: ref(MintTokenBody),
        response: { 201: ref(MintedTokenSchema, 'Minted: the secret is in this answer only'), ...problemResponses(400, 409, 507) },
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
