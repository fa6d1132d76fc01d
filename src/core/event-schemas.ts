// Every event lxssd emits, defined once: a TypeBox schema per type (the document's named components, the wire's
// shape), from which core's event types are derived, so a field cannot exist on a stream and be missing from the
// document, or the other way round. A leaf: it depends on TypeBox only.

import { Type, type Static, type TInteger, type TLiteral, type TObject, type TProperties, type TString } from '@sinclair/typebox';
import type { ErrorCode } from './errors.js';
import { StringEnum } from './string-enum.js';

/** A `$ref` to the ErrorCode component (the route layer registers it), typed as the codes themselves. */
const ErrorCodeRef = Type.Unsafe<ErrorCode>(Type.Ref('ErrorCode'));

type Common<T extends string> = { id: TInteger; time: TString; type: TLiteral<T> };

function eventSchema<T extends string, P extends TProperties>(type: T, description: string, properties: P): TObject<Common<T> & P> {
  const common: Common<T> = {
    id: Type.Integer({ minimum: 1, description: 'increasing within the session; restarts with the service' }),
    time: Type.String({ format: 'date-time' }),
    type: Type.Literal(type),
  };
  return Type.Object({ ...common, ...properties }, { $id: componentName(type), additionalProperties: false, title: type, description });
}

const StopReason = StringEnum(['requested', 'idle', 'shutdown', 'crashed'],
  { description: 'requested (terminate/unregister), idle (timeout), shutdown, crashed (PID 1 or the VM died)' },
);
const Uuid = Type.String({ format: 'uuid' });


/** `process-exited` → `ProcessExitedEvent`: the component name of an event type. */
function componentName(type: string): string {
  return `${type.replace(/(^|-)([a-z])/g, (_, _dash: string, letter: string) => letter.toUpperCase())}Event`;
}

/** A host pid, or null where the host does not tell (the hv contract makes pids optional). */
const HostPid = Type.Union([Type.Integer(), Type.Null()]);
const distribution = { distributionId: Uuid, name: Type.String() };

/** One schema per event type core emits, each a named component (`ProcessExitedEvent`, ...). */
export const EMITTED_EVENTS = [
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
    code: ErrorCodeRef,
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
  eventSchema('vm-started', 'the utility VM of this session started', { pid: HostPid }),
  eventSchema('vm-stopped', 'the utility VM of this session stopped', { reason: StopReason }),
  eventSchema('vm-limit-reached', "the VM reached one of its limits: no more processes, or out of memory (a process may have been killed)", {
    resource: StringEnum(['processes', 'memory']),
    count: Type.Integer({ minimum: 0, description: 'times it was reached since the VM started (the VM view has the counts)' }),
    limit: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'the limit: processes or bytes' }),
  }),
  eventSchema('instance-started', 'a distribution started', { ...distribution, pid: HostPid }),
  eventSchema('instance-stopped', 'a distribution stopped', { ...distribution, reason: StopReason }),
  eventSchema('boot-command-exited', 'the [boot] command of wsl.conf finished', {
    ...distribution,
    exitCode: Type.Integer(),
    output: Type.String(),
  }),
  eventSchema('process-started', 'CreateLxProcess started a process', {
    processId: Uuid,
    distributionId: Uuid,
    pid: HostPid,
    argv: Type.Array(Type.String()),
  }),
  eventSchema('process-exited', 'a process exited (signal: the one that ended it, else null)', {
    processId: Uuid,
    distributionId: Uuid,
    exitCode: Type.Integer(),
    signal: Type.Union([Type.Integer(), Type.Null()]),
  }),
] as const;

/** Stands in a replay for events no longer kept (its id is the last lost one): never emitted, only replayed. */
export const EventsLostSchema = Type.Object(
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
  );

/** Every item of an event stream: the emitted events and the gap marker. */
export const EVENT_VARIANTS = [...EMITTED_EVENTS, EventsLostSchema] as const;

/** Any item of an event stream, as TypeBox checks it (test/helpers/schema.ts); the document uses the Event component. */
export const EventUnionSchema = Type.Union([...EVENT_VARIANTS]);

/** An event as a subscriber receives it. */
export type LxssEvent = Static<(typeof EMITTED_EVENTS)[number]>;

type WithoutStamp<E> = E extends unknown ? Omit<E, 'id' | 'time'> : never;
/** What core emits: the bus stamps `id` and `time`. */
export type LxssEventBody = WithoutStamp<LxssEvent>;

export type EventsLost = Static<typeof EventsLostSchema>;
