// Wire types of /v1/session and /v1/sessions.

import { Type } from '@sinclair/typebox';
import { NextCursor } from './paging.js';
import { ref, StringEnum } from './schema-helpers.js';
import { SidSchema } from './tokens.schemas.js';

/** Sentences for the user about what their VM lacks or would be refused for; empty when all is well. */
export const WarningsSchema = Type.Array(Type.String(), {
  description: 'what the VM lacks or would be refused for (e.g. no range of subordinate ids: a one-id mapping); empty when all is well',
});

const sessionMembers = {
  sid: SidSchema,
  user: Type.Union([Type.String(), Type.Null()], { description: 'host account name; null when none' }),
  uid: Type.Union([Type.Integer(), Type.Null()]),
  home: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
};

export const SessionSchema = Type.Object(sessionMembers, { $id: 'Session', additionalProperties: false });

export const CallerSessionSchema = Type.Object(
  {
    ...sessionMembers,
    transport: StringEnum(['local', 'tcp'], {
      description: 'local: the OS proved the caller; tcp: a token did',
    }),
    tokenId: Type.Union([Type.String(), Type.Null()]),
    administrator: Type.Boolean(),
    warnings: WarningsSchema,
  },
  { $id: 'CallerSession', additionalProperties: false },
);

export const SessionListSchema = Type.Object(
  { sessions: Type.Array(ref(SessionSchema)), next: NextCursor },
  { $id: 'SessionList', additionalProperties: false },
);
