// `subscribers` Server-Sent Events subscribers over TCP while `sseRuns` runs of ["true"] go one after
// another, against a bare Node broadcaster (floor-server.ts sse) sending as many events. An event's delivery
// latency is its arrival at a subscriber minus its `time` stamp (both the host's wall clock; the stamp has
// ms resolution, which adds half a ms on average to both sides alike).

import { type IncomingMessage, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Family } from './family.js';
import { startFloor } from './floor-process.js';
import { interleave, rowOf } from './measure.js';
import { DISTRO } from './service.js';

const wallClockMs = (): number => performance.timeOrigin + performance.now();

/** One subscriber: the latency of every event it gets, and the highest id so far. */
class Subscriber {
  latencies: number[] = [];
  lastId = 0;
  private pending = '';
  private waiter: { id: number; resolve: () => void } | undefined;

  constructor(readonly response: IncomingMessage) {
    response.setEncoding('utf8');
    response.on('data', (text: string) => this.feed(text));
  }

  private feed(text: string): void {
    const arrived = wallClockMs();
    this.pending += text;
    for (let end = this.pending.indexOf('\n\n'); end >= 0; end = this.pending.indexOf('\n\n')) {
      const block = this.pending.slice(0, end);
      this.pending = this.pending.slice(end + 2);
      const data = block.split('\n').find((line) => line.startsWith('data:'));
      if (data === undefined) continue;
      const event = JSON.parse(data.slice(5)) as { id?: number; time?: string };
      if (event.time !== undefined) this.latencies.push(arrived - Date.parse(event.time));
      if (event.id !== undefined) this.lastId = Math.max(this.lastId, event.id);
    }
    if (this.waiter && this.lastId >= this.waiter.id) this.waiter.resolve();
  }

  /** Resolves once the event `id` (or a later one) has arrived. */
  reached(id: number): Promise<void> {
    if (this.lastId >= id) return Promise.resolve();
    return new Promise((resolve) => (this.waiter = { id, resolve }));
  }

  take(): number[] {
    const taken = this.latencies;
    this.latencies = [];
    return taken;
  }
}

function subscribe(url: string, headers: Record<string, string>): Promise<Subscriber> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (response) => {
      if (response.statusCode !== 200) reject(new Error(`subscribing to ${url}: ${response.statusCode}`));
      else resolve(new Subscriber(response));
    });
    req.on('error', reject);
    req.end();
  });
}

function post(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST' }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (text: string) => (body += text));
      response.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Waits for every subscriber to reach `id`, then hands back all their latencies of the round. */
async function collect(subscribers: Subscriber[], id: number): Promise<number[]> {
  await Promise.all(subscribers.map((subscriber) => subscriber.reached(id)));
  return subscribers.flatMap((subscriber) => subscriber.take());
}

export const sseFamily: Family = {
  name: 'sse',
  async rows({ sizes, service }) {
    const floor = await startFloor('sse');
    const streams: IncomingMessage[] = [];
    try {
      const count = sizes.subscribers;
      const auth = { authorization: `Bearer ${service.token}` };
      const mine = await Promise.all(Array.from({ length: count }, () => subscribe(`${service.url}/v1/events`, auth)));
      const bare = await Promise.all(Array.from({ length: count }, () => subscribe(`http://127.0.0.1:${floor.port}/events`, {})));
      streams.push(...[...mine, ...bare].map((subscriber) => subscriber.response));
      const samples = await interleave(sizes.rounds, {
        lxssd: async () => {
          for (let i = 0; i < sizes.sseRuns; i++) await service.run(['true']);
          const page = await service.request('GET', '/v1/events');
          return collect(mine, Number(page.body.lastId));
        },
        floor: async () => {
          let last = 0;
          for (let i = 0; i < sizes.sseRuns; i++) last = Number(await post(`http://127.0.0.1:${floor.port}/emit`));
          return collect(bare, last);
        },
      });
      return [
        rowOf({
          what: `${count} SSE subscribers, ${sizes.sseRuns} runs (event delivery latency)`,
          unit: 'ms',
          kind: 'cost',
          target: '≤ 1.2× (p50)',
          lxssd: samples.lxssd,
          floor: { what: 'a bare Node SSE broadcaster', samples: samples.floor },
          notes: [`run ["true"] in ${DISTRO} emits several events each; the floor one per POST`],
        }),
      ];
    } finally {
      for (const stream of streams) stream.destroy();
      await floor.stop();
    }
  },
};
