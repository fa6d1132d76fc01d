// Wire types of /v1/events: the Event component (a tagged union of the schemas in core/event-schemas.ts), the
// query and the page.

import { Type, type Static } from '@sinclair/typebox';
import { EVENT_VARIANTS, EventUnionSchema } from '../core/event-schemas.js';
import { ref } from './schema-helpers.js';
import { TicketQueryProperty } from './tickets.schemas.js';

export { EVENT_VARIANTS, EventUnionSchema };

/**
 * Any event (the `Event` component): one of the variants, told apart by `type` (an OpenAPI discriminator, so
 * generated clients get a tagged union).
 */
export const EventSchema = {
  $id: 'Event',
  oneOf: EVENT_VARIANTS.map((variant) => ref(variant)),
  discriminator: {
    propertyName: 'type',
    mapping: Object.fromEntries(
      EVENT_VARIANTS.map((variant) => [variant.title, `#/components/schemas/${variant.$id}`]),
    ),
  },
} as unknown as typeof EventUnionSchema;

export const EventsQuery = Type.Object(
  {
    since: Type.Optional(
      Type.Integer({
        minimum: 0,
        description:
          'replay the kept events after this id first (SSE: or the Last-Event-ID header). JSON default 0; ' +
          'WebSocket and SSE default: only new events',
      }),
    ),
    process: Type.Optional(Type.String({ format: 'uuid', description: 'only the events of this process of yours' })),
    ticket: TicketQueryProperty,
  },
  { additionalProperties: false },
);
export type EventsQuery = Static<typeof EventsQuery>;

export const EventsPageSchema = Type.Object(
  {
    events: Type.Array(ref(EventSchema)),
    lastId: Type.Integer({ minimum: 0, description: 'the newest id of the session: pass it as `since` next time' }),
  },
  { additionalProperties: false },
);
