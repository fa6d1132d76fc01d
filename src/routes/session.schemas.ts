// Wire types of /v1/session and /v1/sessions.

import { Type } from '@sinclair/typebox';
import { SidSchema } from './tokens.schemas.js';

const sessionMembers = {
  sid: SidSchema,
  user: Type.Union([Type.String(), Type.Null()], { description: 'host account name; null when none' }),
  uid: Type.Union([Type.Integer(), Type.Null()]),
  home: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
};

export const SessionSchema = Type.Object(sessionMembers, { additionalProperties: false });

export const CallerSessionSchema = Type.Object(
  {
    ...sessionMembers,
    transport: Type.Union([Type.Literal('local'), Type.Literal('tcp')], {
      description: 'local: the OS proved the caller; tcp: a token did',
    }),
    tokenId: Type.Union([Type.String(), Type.Null()]),
    administrator: Type.Boolean(),
  },
  { additionalProperties: false },
);

export const SessionListSchema = Type.Object({ sessions: Type.Array(SessionSchema) }, { additionalProperties: false });
