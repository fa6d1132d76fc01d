// Wire types of /v1/tokens.

import { Type, type Static } from '@sinclair/typebox';
import { NextCursor, PageQuery } from './paging.js';
import { ref } from './schema-helpers.js';

export const SidSchema = Type.String({
  pattern: '^S-1-\\d{1,15}(-\\d{1,10}){1,15}$',
  description: 'a security identifier; Linux uid N is `S-1-22-1-N`',
  examples: ['S-1-22-1-1000'],
});

export const TokenInfoSchema = Type.Object(
  {
    id: Type.String({ pattern: '^[0-9a-f]{16}$' }),
    sid: SidSchema,
    label: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
    expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { $id: 'Token', additionalProperties: false },
);

export const MintTokenBody = Type.Object(
  {
    label: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    expiresInSeconds: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 10 * 366 * 24 * 3600, description: 'lifetime; none: until revoked' }),
    ),
    sid: Type.Optional(SidSchema),
  },
  { $id: 'MintTokenRequest', additionalProperties: false, examples: [{ label: 'ci', expiresInSeconds: 86400 }] },
);
export type MintTokenBody = Static<typeof MintTokenBody>;

export const MintedTokenSchema = Type.Object(
  {
    token: Type.String({ description: 'the secret: shown once, stored nowhere in clear' }),
    info: ref(TokenInfoSchema),
  },
  { $id: 'MintedToken', additionalProperties: false },
);

export const TokenListSchema = Type.Object(
  { tokens: Type.Array(ref(TokenInfoSchema)), next: NextCursor },
  { $id: 'TokenList', additionalProperties: false },
);

export const TokenIdParams = Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{16}$' }) });

export const TokenListQuery = Type.Object(
  {
    ...PageQuery.properties,
    sid: Type.Optional(
      Type.String({
        pattern: '^(S-1-\\d{1,15}(-\\d{1,10}){1,15}|\\*)$',
        description: "root only: another SID's tokens, or `*` for everyone's (default: the caller's)",
      }),
    ),
  },
  { additionalProperties: false },
);
