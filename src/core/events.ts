// A session's event bus: core emits typed events, the bus numbers them in order and keeps the last few so
// a subscriber that reconnects can resume from its last id. Subscribers never block emitters. An event is
// turned into JSON once, when emitted: every subscriber gets that text with it.

import type { EventsLost, LxssEvent, LxssEventBody } from './event-schemas.js';

export type { EventsLost, LxssEvent, LxssEventBody } from './event-schemas.js';

/** The fields every event about a distribution carries (the builder of distribution events' common part). */
export function aboutDistribution(distribution: { readonly id: string; readonly name: string }): { distributionId: string; name: string } {
  return { distributionId: distribution.id, name: distribution.name };
}

/** What a VM ran out of: processes (its maxPids), or memory (its memory limit; processes may be OOM-killed). */
export type VmResourceName = Extract<LxssEventBody, { type: 'vm-limit-reached' }>['resource'];

/** What a subscriber receives: events, and at most one gap marker before the first of them. */
export type EventStreamItem = LxssEvent | EventsLost;

/** `json` is the event as JSON, the same text for every subscriber. */
export type EventListener = (event: LxssEvent, json: string) => void;

/** `json` is the item as JSON. */
export type StreamListener = (item: EventStreamItem, json: string) => void;

export interface EventBusLimits {
  /** at most this many events are kept for replay */
  maxEvents: number;
  /** and at most this many bytes of them (JSON), so events with large argv cannot pin memory */
  maxBytes: number;
}

const DEFAULT_LIMITS: EventBusLimits = { maxEvents: 1000, maxBytes: 4 << 20 };

interface Kept {
  readonly event: LxssEvent;
  readonly json: string;
  readonly bytes: number;
}

export class EventBus {
  private nextId = 1;
  private readonly history: Kept[] = [];
  private historyBytes = 0;
  private readonly listeners = new Set<EventListener>();

  constructor(private readonly limits: EventBusLimits = DEFAULT_LIMITS) {}

  /** The id of the newest event, 0 before the first. */
  get lastId(): number {
    return this.nextId - 1;
  }

  emit(body: LxssEventBody): LxssEvent {
    const event = { ...body, id: this.nextId++, time: new Date().toISOString() } as LxssEvent;
    const json = JSON.stringify(event);
    const bytes = Buffer.byteLength(json);
    this.history.push({ event, json, bytes });
    this.historyBytes += bytes;
    while (this.history.length > this.limits.maxEvents || (this.historyBytes > this.limits.maxBytes && this.history.length > 1)) {
      this.historyBytes -= this.history.shift()!.bytes;
    }
    for (const listener of this.listeners) listener(event, json);
    return event;
  }

  /** Calls `listener` for every later event; returns the unsubscribe function. */
  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The events after `lastId`, oldest first, led by an `events-lost` marker when some of them are no longer
   * kept. Ids restart with the service, so a `lastId` beyond the newest one is from an earlier run: the
   * replay then starts from the beginning.
   */
  since(lastId: number): EventStreamItem[] {
    return this.replay(lastId).map(({ event }) => event);
  }

  /** `since(lastId)`, each item with its JSON. */
  private replay(lastId: number): Array<{ event: EventStreamItem; json: string }> {
    const after = lastId > this.lastId ? 0 : lastId;
    const kept = this.history.filter(({ event }) => event.id > after);
    const firstKept = kept[0]?.event.id ?? this.nextId;
    if (firstKept <= after + 1) return kept;
    const lost: EventsLost = {
      type: 'events-lost',
      id: firstKept - 1,
      time: new Date().toISOString(),
      firstLostId: after + 1,
      lastLostId: firstKept - 1,
    };
    return [{ event: lost, json: JSON.stringify(lost) }, ...kept];
  }

  /** `since(lastId)` and then every later event, with nothing in between missed (one synchronous step). */
  follow(lastId: number, listener: StreamListener): () => void {
    for (const { event, json } of this.replay(lastId)) listener(event, json);
    return this.subscribe(listener);
  }
}
