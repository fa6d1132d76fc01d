// Wire types of /v1/events: one schema per event type (the union clients generate), the query and the page.

import { Type, type Static, type TObject, type TProperties } from '@sinclair/typebox';
import { ErrorCodeSchema } from './problem.schemas.js';
import { ref, StringEnum } from './schema-helpers.js';
import { TicketQueryProperty } from './tickets.schemas.js';

const StopReason = StringEnum(['requested', 'idle', 'shutdown', 'crashed'],
  { description: 'requested (terminate/unregister), idle (timeout), shutdown, crashed (PID 1 or the VM died)' },
);
const Uuid = Type.String({ format: 'uuid' });

function eventSchema(type: string, description: string, properties: TProperties): TObject {
  const common: TProperties = {
    id: Type.Integer({ minimum: 1, description: 'increasing within the session; restarts with the service' }),
    time: Type.String({ format: 'date-time' }),
    type: Type.Literal(type),
  };
  return Type.Object({ ...common, ...properties }, { $id: componentName(type), additionalProperties: false, title: type, description });
}

/** `process-exited` → `ProcessExitedEvent`: the component name of an event type. */
function componentName(type: string): string {
  return `${type.replace(/(^|-)([a-z])/g, (_, _dash: string, letter: string) => letter.toUpperCase())}Event`;
}

const distribution = { distributionId: Uuid, name: Type.String() };

/** One schema per event type, each a named component (`ProcessExitedEvent`, ...). */
export const EVENT_VARIANTS = [
  eventSchema('distribution-registered', 'RegisterDistribution finished', distribution),
  eventSchema('distribution-configured', 'ConfigureDistribution changed these fields', {
    ...distribution,
    changed: Type.Array(Type.String()),
  }),
  eventSchema('distribution-unregistered', 'UnregisterDistribution finished', distribution),
  eventSchema('distribution-import-progress', 'an import under way, at most a few times a second', {
    ...distribution,
    bytesRead: Type.Integer({ minimum: 0, description: 'archive bytes received so far, as sent (compressed)' }),
    bytesWritten: Type.Integer({ minimum: 0, description: 'tar bytes unpacked so far (the view’s sizeBytes while it installs)' }),
  }),
  eventSchema('distribution-import-failed', 'an import failed and was undone: nothing of it is left', {
    ...distribution,
    code: ref(ErrorCodeSchema),
    detail: Type.String(),
  }),
  eventSchema('distribution-export-progress', 'an export under way, at most a few times a second', {
    ...distribution,
    bytesWritten: Type.Integer({ minimum: 0, description: 'archive bytes sent so far' }),
  }),
  eventSchema('default-distribution-changed', 'the default distribution changed (null: none)', {
    distributionId: Type.Union([Uuid, Type.Null()]),
    name: Type.Union([Type.String(), Type.Null()]),
  }),
  eventSchema('vm-started', 'the utility VM of this session started', { pid: Type.Integer() }),
  eventSchema('vm-stopped', 'the utility VM of this session stopped', { reason: StopReason }),
  eventSchema('vm-limit-reached', "the VM reached one of its limits: no more processes, or out of memory (a process may have been killed)", {
    resource: StringEnum(['processes', 'memory']),
    count: Type.Integer({ minimum: 0, description: 'times it was reached since the VM started (the VM view has the counts)' }),
    limit: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'the limit: processes or bytes' }),
  }),
  eventSchema('instance-started', 'a distribution started', { ...distribution, pid: Type.Integer() }),
  eventSchema('instance-stopped', 'a distribution stopped', { ...distribution, reason: StopReason }),
  eventSchema('boot-command-exited', 'the [boot] command of wsl.conf finished', {
    ...distribution,
    exitCode: Type.Integer(),
    output: Type.String(),
  }),
  eventSchema('process-started', 'CreateLxProcess started a process', {
    processId: Uuid,
    distributionId: Uuid,
    pid: Type.Integer(),
    argv: Type.Array(Type.String()),
  }),
  eventSchema('process-exited', 'a process exited (signal: the one that ended it, else null)', {
    processId: Uuid,
    distributionId: Uuid,
    exitCode: Type.Integer(),
    signal: Type.Union([Type.Integer(), Type.Null()]),
  }),
  Type.Object(
    {
      id: Type.Integer({ minimum: 1, description: 'the last lost id: resume after it' }),
      time: Type.String({ format: 'date-time' }),
      type: Type.Literal('events-lost'),
      firstLostId: Type.Integer({ minimum: 1 }),
      lastLostId: Type.Integer({ minimum: 1 }),
    },
    {
      $id: componentName('events-lost'),
      additionalProperties: false,
      title: 'events-lost',
      description: 'these events were asked for but are no longer kept: the client missed them',
    },
  ),
] as const;

/** Any event, as TypeBox checks it (test/helpers/schema.ts); the wire and the document use EventSchema. */
export const EventUnionSchema = Type.Union([...EVENT_VARIANTS]);

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
