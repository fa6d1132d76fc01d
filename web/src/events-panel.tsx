// The live event bus, newest first: what the service did, as it happens.

import { useEffect, useState } from 'preact/hooks';
import type { EventBusClient } from './bus.js';
import type { LxssEvent } from './types.js';

const KEPT = 200;

function summary(event: LxssEvent): string {
  const { id: _id, time: _time, type: _type, ...rest } = event as Record<string, unknown>;
  return Object.entries(rest)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
}

export function EventsPanel({ bus, visible }: { bus: EventBusClient; visible: boolean }) {
  const [events, setEvents] = useState<LxssEvent[]>([]);
  useEffect(() => bus.listen((event) => setEvents((all) => [event, ...all].slice(0, KEPT))), []);
  return (
    <section aria-labelledby="events-heading" hidden={!visible}>
      <h2 id="events-heading">Events</h2>
      <ol class="events">
        {events.length === 0 && <li>Nothing has happened since the page opened.</li>}
        {events.map((event) => (
          <li key={event.id}>
            <time dateTime={event.time}>{new Date(event.time).toLocaleTimeString()}</time> <strong>{event.type}</strong> <span>{summary(event)}</span>
          </li>
        ))}
      </ol>
    </section>
  );
}
