// The session's event bus over the events WebSocket (an EventSource could not send the token): every event to
// every listener, resumed from the last id after a dropped connection, and "signed out" when the token ends.

import { CLOSE_TOKEN_ENDED, openSocket } from './api.js';
import type { LxssEvent } from './types.js';

export type BusListener = (event: LxssEvent) => void;
export type BusState = 'connecting' | 'live' | 'reconnecting' | 'closed';

export class EventBusClient {
  private socket: WebSocket | undefined;
  private readonly listeners = new Set<BusListener>();
  private lastId: number;
  private stopped = false;
  private retryMs = 500;
  private retryTimer: number | undefined;

  constructor(
    since: number,
    private readonly onState: (state: BusState) => void,
    private readonly onTokenEnded: () => void,
  ) {
    this.lastId = since;
    this.connect();
  }

  listen(listener: BusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.stopped = true;
    window.clearTimeout(this.retryTimer);
    this.socket?.close(1000);
    this.onState('closed');
  }

  private connect(): void {
    this.onState(this.socket ? 'reconnecting' : 'connecting');
    const socket = openSocket(`/v1/events?since=${this.lastId}`, 'lxss.events.v1');
    this.socket = socket;
    socket.onopen = () => {
      this.retryMs = 500;
      this.onState('live');
    };
    socket.onmessage = (message) => {
      const event = JSON.parse(String(message.data)) as LxssEvent;
      if (typeof event.id === 'number') this.lastId = event.id;
      for (const listener of this.listeners) listener(event);
    };
    socket.onclose = (closed) => {
      if (this.stopped) return;
      if (closed.code === CLOSE_TOKEN_ENDED) {
        this.stopped = true;
        this.onState('closed');
        this.onTokenEnded();
        return;
      }
      // Dropped (the service restarted, the machine slept): resume after the last id seen, a little later each time.
      this.onState('reconnecting');
      this.retryTimer = window.setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 10_000);
    };
  }
}
