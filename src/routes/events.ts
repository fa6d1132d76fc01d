// GET /v1/events: the caller's session event bus, three ways.
//   WebSocket (lxss.events.v1): one JSON text frame per event.
//   Server-Sent Events (Accept: text/event-stream, for `curl -N` and EventSource), resumable with Last-Event-ID.
//   Plain JSON: the kept events after `since`, for polling.
// A subscriber never makes the service buffer without bound: one that falls more than MAX_BACKLOG_BYTES
// behind is disconnected (WebSocket close 4008 with the last id sent) and resumes from that id.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { LxssError } from '../core/errors.js';
import type { EventBus, EventStreamItem } from '../core/events.js';
import { callerOf } from './caller.js';
import { EventsPageSchema, EventsQuery } from './events.schemas.js';
import { problemResponses } from './problem.schemas.js';
import { holdStreamSlot } from './stream-slots.js';
import { pickSubprotocol } from './subprotocols.js';
import { closeWhenTokenEnds, whenTokenEnds } from './token-lifetime.js';
import { asyncapiChannels, ASYNCAPI_DOCUMENT, switchingProtocols } from './upgrade.schemas.js';

export const EVENTS_PROTOCOL = 'lxss.events.v1';
/** WebSocket close code for a subscriber that fell too far behind (the reason carries `{"lastId":N}`). */
export const CLOSE_TOO_SLOW = 4008;
/** The AsyncAPI channel (openapi/asyncapi.yaml) of the protocol spoken here. */
export const EVENTS_CHANNELS: Record<typeof EVENTS_PROTOCOL, string> = { [EVENTS_PROTOCOL]: 'events' };
const MAX_BACKLOG_BYTES = 1 << 20;
const SSE_HEARTBEAT_MS = 15_000;
/** A slow SSE client gets its buffered events and then the end; one that never reads is cut off after this. */
const SSE_END_GRACE_MS = 30_000;

type Filter = (item: EventStreamItem) => boolean;

interface Subscription {
  bus: EventBus;
  /** replay after this id, then follow */
  since: number;
  filter: Filter;
}

function wantsEventStream(request: FastifyRequest): boolean {
  return (request.headers.accept ?? '').toLowerCase().includes('text/event-stream');
}

function lastEventId(request: FastifyRequest): number | undefined {
  const header = request.headers['last-event-id'];
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header[0] : header;
  if (!value || !/^\d{1,15}$/.test(value.trim())) {
    throw new LxssError('E_INVALIDARG', 'Last-Event-ID must be an event id (a non-negative integer)');
  }
  return Number(value);
}

type FrameOf = (item: EventStreamItem, json: string) => Buffer;

/** An item's frame of one kind, made once for all subscribers: the bus hands each of them the same item object. */
function frameCache(make: (item: EventStreamItem, json: string) => string): FrameOf {
  const frames = new WeakMap<EventStreamItem, Buffer>();
  return (item, json) => {
    let frame = frames.get(item);
    if (frame === undefined) {
      frame = Buffer.from(make(item, json));
      frames.set(item, frame);
    }
    return frame;
  };
}

const sseFrame = frameCache((item, json) => `id: ${item.id}\nevent: ${item.type}\ndata: ${json}\n\n`);
const textFrame = frameCache((_item, json) => json);

/**
 * Follows `subscription`, handing each item's frame to `deliver` while `backlog()` (bytes accepted but not yet
 * taken by the client) stays within MAX_BACKLOG_BYTES beyond the replay; past it, calls `tooSlow` once and stops.
 * Returns the function that stops following.
 */
function follow(
  { bus, since, filter }: Subscription,
  frameOf: FrameOf,
  deliver: (frame: Buffer) => void,
  backlog: () => number,
  tooSlow: (lastDelivered: number) => void,
): () => void {
  let stopped = false;
  let replaying = true;
  // The replay is written in one go, so it may sit in the buffer whole: it does not count against the client.
  let allowance = MAX_BACKLOG_BYTES;
  let lastDelivered = since;
  const stop = (): void => {
    stopped = true;
    unsubscribe?.();
  };
  let unsubscribe: (() => void) | undefined = bus.follow(since, (item, json) => {
    if (stopped || !filter(item)) return;
    if (!replaying && backlog() > allowance) {
      stop();
      tooSlow(lastDelivered);
      return;
    }
    const frame = frameOf(item, json);
    if (replaying) allowance += frame.length;
    deliver(frame);
    lastDelivered = item.id;
  });
  replaying = false;
  if (stopped) unsubscribe();
  return stop;
}

/**
 * What one subscriber is sent within a turn of the event loop, written when the turn ends: a burst of events
 * costs one write, not one per event. `flush` writes what waits at once (before an end).
 */
class TickBatch {
  private pending: Buffer[] = [];
  /** bytes waiting, which the client has not been sent yet either */
  bytes = 0;
  private scheduled: NodeJS.Immediate | undefined;

  constructor(private readonly write: (data: Buffer) => void) {}

  add(data: Buffer): void {
    this.pending.push(data);
    this.bytes += data.length;
    this.scheduled ??= setImmediate(() => this.flush());
  }

  flush(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    if (this.pending.length === 0) return;
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.bytes);
    this.pending = [];
    this.bytes = 0;
    this.write(data);
  }
}

const KEEPALIVE = Buffer.from(': keepalive\n\n');

/** Streams `subscription` as Server-Sent Events on the raw response; returns the function that ends it. */
function streamEventSource(reply: FastifyReply, subscription: Subscription, onEnd: () => void): () => void {
  reply.hijack();
  const response: ServerResponse = reply.raw;
  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
  });
  response.write(`retry: 2000\n: lxssd events after id ${subscription.since}\n\n`);
  const batch = new TickBatch((data) => {
    if (!response.destroyed && !response.writableEnded) response.write(data);
  });
  let ended = false;
  const end = (): void => {
    if (ended) return;
    ended = true;
    clearInterval(heartbeat);
    stop();
    onEnd();
    batch.flush();
    // What was written still reaches a client that reads; one that never does is cut off.
    response.end();
    setTimeout(() => response.destroy(), SSE_END_GRACE_MS).unref();
  };
  const heartbeat = setInterval(() => batch.add(KEEPALIVE), SSE_HEARTBEAT_MS);
  const stop = follow(
    subscription,
    sseFrame,
    (frame) => batch.add(frame),
    () => response.writableLength + batch.bytes,
    () => end(),
  );
  response.on('close', end);
  return end;
}

/**
 * Follows `subscription` on an open WebSocket until either side closes. The frames of one turn of the event
 * loop leave in one write: the connection is corked from the first of them to the end of the turn.
 */
function streamWebSocket(socket: WebSocket, connection: Socket, subscription: Subscription): void {
  let corked: NodeJS.Immediate | undefined;
  const uncork = (): void => {
    corked = undefined;
    connection.uncork();
  };
  const stop = follow(
    subscription,
    textFrame,
    (frame) => {
      if (corked === undefined) {
        connection.cork();
        corked = setImmediate(uncork);
      }
      socket.send(frame, { binary: false });
    },
    () => socket.bufferedAmount,
    (lastId) => socket.close(CLOSE_TOO_SLOW, JSON.stringify({ lastId })),
  );
  socket.on('close', stop);
}

export const eventRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const subscriptions = new WeakMap<FastifyRequest, Subscription>();
  const openEventSources = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of [...openEventSources]) end();
  });

  app.route({
    method: 'GET',
    url: '/events',
    // An EventSource cannot send a header: a one-time events ticket (POST /v1/tickets) may stand in for it.
    config: { ticket: 'events' },
    schema: {
      operationId: 'getEvents',
      tags: ['events'],
      summary: "The caller's session events: JSON, Server-Sent Events, or a WebSocket",
      description:
        'Plain GET: `{events, lastId}`, the kept events after `since` (default 0). ' +
        '`Accept: text/event-stream`: Server-Sent Events (`id:`, `event:` the type, `data:` the JSON), a ' +
        'keepalive comment every 15 s, resumable with `Last-Event-ID`. ' +
        `WebSocket (subprotocol ${EVENTS_PROTOCOL}): one JSON text frame per event. ` +
        'Streams replay after `since` (or Last-Event-ID) and then follow; without either they start at the ' +
        'newest event. Ids increase by one within the session and restart with the service; events no longer ' +
        'kept come out as one `events-lost` item, never silently. A WebSocket subscriber more than 1 MiB ' +
        `behind is closed with code ${CLOSE_TOO_SLOW} and reason {"lastId":N}; an SSE one gets the end of the ` +
        'stream: resume after the last id you saw. ' +
        'A browser’s EventSource, which cannot send a header, authenticates with `?ticket=` (a one-time events ticket, `POST /v1/tickets`); the stream then ends with the token that made the ticket. ' +
        `The WebSocket's frames and close codes are described in the AsyncAPI document at ${ASYNCAPI_DOCUMENT} (channel \`events\`).`,
      ...asyncapiChannels(EVENTS_CHANNELS),
      querystring: EventsQuery,
      response: {
        ...switchingProtocols(`the event stream (${EVENTS_PROTOCOL})`),
        200: {
          description: 'The kept events after `since`, or (text/event-stream) the event stream',
          content: {
            'application/json': { schema: EventsPageSchema },
            'text/event-stream': { schema: { type: 'string', description: 'Server-Sent Events; data: an Event' } },
          },
        },
        ...problemResponses(400, 404, 409),
      },
    },
    preHandler: async (request, reply) => {
      if (request.ws) pickSubprotocol(request, [EVENTS_PROTOCOL]);
      const session = app.lxss.sessionOf(callerOf(request));
      const { since, process: processId } = request.query as EventsQuery;
      let filter: Filter = () => true;
      if (processId !== undefined) {
        (await session.processes()).get(processId); // 404 unless it is the caller's
        filter = (item) => item.type === 'events-lost' || ('processId' in item && item.processId === processId);
      }
      const streaming = request.ws || wantsEventStream(request);
      if (streaming) holdStreamSlot(app, request, reply);
      // A stream's default start is "now", fixed here so nothing emitted before the subscription is missed.
      const start = lastEventId(request) ?? since ?? (streaming ? session.events.lastId : 0);
      subscriptions.set(request, { bus: session.events, since: start, filter });
    },
    handler: async (request, reply) => {
      const subscription = subscriptions.get(request)!;
      if (wantsEventStream(request)) {
        let unwatch = (): void => undefined;
        const end = streamEventSource(reply, subscription, () => {
          openEventSources.delete(end);
          unwatch();
        });
        openEventSources.add(end);
        unwatch = whenTokenEnds(app, request, end);
        return reply;
      }
      return { events: subscription.bus.since(subscription.since).filter(subscription.filter), lastId: subscription.bus.lastId };
    },
    wsHandler: (socket, request) => {
      closeWhenTokenEnds(app, request, socket);
      streamWebSocket(socket, request.raw.socket, subscriptions.get(request)!);
    },
  });
};
