// The problem+json document every error response carries (RFC 9457), and the helper that declares those
// responses on a route.

import { Type, type TSchema } from '@sinclair/typebox';
import { ERROR_TABLE, type ErrorCode } from '../core/errors.js';
import { ref, StringEnum } from './schema-helpers.js';

/** Every stable error code (src/core/errors.ts; each documented in docs/errors.md). */
export const ErrorCodeSchema = StringEnum(Object.keys(ERROR_TABLE) as ErrorCode[], {
  $id: 'ErrorCode',
  description: 'stable error code; WSL’s name where WSL has one (see docs/errors.md)',
});

export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: '`urn:lxssd:problem:<code>`' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: ref(ErrorCodeSchema),
    errors: Type.Optional(
      Type.Array(Type.Object({ field: Type.String(), message: Type.String() }), {
        description: 'for validation errors: each field that was wrong',
      }),
    ),
    retryAfter: Type.Optional(Type.Integer({ description: 'seconds to wait before trying again' })),
  },
  {
    $id: 'Problem',
    description: 'An RFC 9457 problem document; as RFC 9457 allows, a later version may add members, which clients should ignore',
    additionalProperties: true,
  },
);

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input (E_INVALIDARG)',
  401: 'No valid token (ERROR_NOT_AUTHENTICATED)',
  403: 'Not allowed for this caller, Host or Origin',
  404: 'No such resource for this caller',
  408: 'The request body did not arrive in time (LXSSD_E_REQUEST_TIMEOUT)',
  409: 'Conflicts with the current state',
  413: 'Body too large',
  414: 'A path parameter is longer than any valid one (LXSSD_E_URI_TOO_LONG)',
  415: 'Unsupported media type',
  426: 'Upgrade to a WebSocket',
  429: 'Too many failed authentications from this address, or from all addresses (a valid token is never refused)',
  500: 'Internal error',
  503: 'The service is shutting down or out of resources, or a state file of the caller is damaged (LXSSD_E_STATE_FILE_DAMAGED)',
  504: 'The distribution did not answer in time (LXSSD_E_TIMEOUT)',
  507: 'The disk is full',
};

const RETRY_AFTER = {
  'Retry-After': Type.Integer({
    minimum: 0,
    description: 'seconds to wait before trying again (also the problem’s `retryAfter`), when there is a time to wait',
  }),
};

/** The headers an error response carries. */
const HEADERS: Record<number, Record<string, TSchema>> = {
  401: {
    'WWW-Authenticate': Type.String({ description: '`Bearer realm="lxssd"`: send a token' }),
  },
  429: RETRY_AFTER,
  503: RETRY_AFTER,
};

/**
 * The error responses a route can give, each as problem+json; 401, 403, 429, 500 and 503 (out of descriptors or
 * memory, a connection cap, shutting down, a damaged state file) are always possible.
 */
export function problemResponses(...statuses: number[]): Record<number, TSchema> {
  const all = new Set([...statuses, 401, 403, 429, 500, 503]);
  const responses: Record<number, TSchema> = {};
  for (const status of [...all].sort()) {
    responses[status] = {
      description: DESCRIPTIONS[status] ?? 'Error',
      ...(HEADERS[status] ? { headers: HEADERS[status] } : {}),
      content: { 'application/problem+json': { schema: ref(ProblemSchema) } },
    } as unknown as TSchema;
  }
  return responses;
}

/**
 * Methods whose request body Fastify parses even when the route takes none, refusing one it cannot parse (400)
 * or whose type it has no parser for (415). A DELETE is one of them: its JSON body is parsed and ignored.
 */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Declares the input errors a route's schema makes possible, so the document cannot forget them: 400 when
 * anything is validated, 408, 413 and 415 when a body is read; for a POST, PUT, PATCH or DELETE that takes no body, the
 * 400 (malformed JSON) and 415 (another type) of a body sent anyway. Runs for every route as it is added.
 */
export function declareInputProblems(
  schema: { params?: unknown; querystring?: unknown; body?: unknown; response?: unknown } | undefined,
  method: string | string[] = 'GET',
): void {
  if (schema?.response === undefined) return;
  const response = schema.response as Record<number, TSchema>;
  const bodiless = !schema.body && [method].flat().some((m) => BODY_METHODS.has(m.toUpperCase()));
  const statuses = [
    ...(schema.params || schema.querystring || schema.body || bodiless ? [400] : []),
    ...(schema.body ? [408, 413, 415] : []),
    ...(bodiless ? [415] : []),
    // The router refuses a path parameter longer than it takes (3,072 characters, past any valid one).
    ...(schema.params ? [414] : []),
  ].filter((status) => response[status] === undefined);
  if (statuses.length === 0) return;
  Object.assign(response, problemResponses(...statuses));
}

/** Problem responses for a route anyone may call (no authentication). */
export function publicProblemResponses(...statuses: number[]): Record<number, TSchema> {
  const responses = problemResponses(...statuses);
  delete responses[401];
  delete responses[429];
  return responses;
}
