// A session's event bus: core emits typed events, the bus numbers them in order and keeps the last few so
// a subscriber that reconnects can resume from its last id. Subscribers never block emitters.

import type { StopReason } from '../hv/index.js';

/** Every event lxssd emits, keyed by `type`. */
export type LxssEventBody =
  | { type: 'distribution-registered'; distributionId: string; name: string }
  | { type: 'distribution-configured'; distributionId: string; name: string; changed: string[] }
  | { type: 'distribution-unregistered'; distributionId: string; name: string }
  | { type: 'default-distribution-changed'; distributionId: string | null; name: string | null }
  | { type: 'vm-started'; pid: number }
  | { type: 'vm-stopped'; reason: StopReason }
  | { type: 'instance-started'; distributionId: string; name: string; pid: number }
  | { type: 'instance-stopped'; distributionId: string; name: string; reason: StopReason }
  | { type: 'boot-command-exited'; distributionId: string; name: string; exitCode: number; output: string }
  | { type: 'process-started'; processId: string; distributionId: string; pid: number; argv: string[] }
  | { type: 'process-exited'; processId: string; distributionId: string; exitCode: number; signal: number | null };

export type LxssEvent = LxssEventBody & {
  /** increasing per session, never reused */
  readonly id: number;
  readonly time: string;
};

export type EventListener = (event: LxssEvent) => void;

export class EventBus {
  private nextId = 1;
  private readonly history: LxssEvent[] = [];
  private readonly listeners = new Set<EventListener>();

  constructor(private readonly historySize = 1000) {}

  emit(body: LxssEventBody): LxssEvent {
    const event = { ...body, id: this.nextId++, time: new Date().toISOString() } as LxssEvent;
    this.history.push(event);
    if (this.history.length > this.historySize) this.history.shift();
    for (const listener of this.listeners) listener(event);
    return event;
  }

  /** Calls `listener` for every later event; returns the unsubscribe function. */
  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The kept events after `lastId`, oldest first. */
  since(lastId: number): LxssEvent[] {
    return this.history.filter((event) => event.id > lastId);
  }
}
