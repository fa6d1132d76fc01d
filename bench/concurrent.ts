// `concurrent` processes of `sleep 60` asked for at once (every POST sent before the first answer) against
// Node spawning as many children at once; the wall time until the last has started is the ratio. Each
// process's latency, from the burst's start to its own start, shows whether later ones wait for earlier ones
// (first vs last, p90/p10: 1 is flat; Node's spawn is synchronous, so its floor is a ramp). While they
// run, the service's RSS growth per running process. The instance is stopped after each round (it kills
// them all); Node's children are killed by pid.

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Family } from './family.js';
import { elapsedMs, interleave, median, now, quantile, rowOf } from './measure.js';
import { DISTRO, type Service } from './service.js';

interface Burst {
  wallMs: number;
  latencies: number[];
}

/**
 * `work`, or an error once it has taken longer than any burst should (100 ms a process, at least a minute):
 * a service that stops answering must end the bench with a reason, not hang it.
 */
async function withinTime<T>(what: string, done: () => number, count: number, work: Promise<T>): Promise<T> {
  const limitMs = Math.max(60_000, count * 100);
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: ${done()} of ${count} answered in ${limitMs / 1000} s; the service stopped answering`)), limitMs);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

async function burstOnLxssd(service: Service, count: number, rssPerProcess: number[]): Promise<Burst> {
  await service.run(['true']); // the instance runs: this row is about processes, not a cold start
  const before = await service.rssKiB();
  const start = now();
  let answered = 0;
  const latencies = await withinTime(`${count} concurrent sleep 60`, () => answered, count, Promise.all(
    Array.from({ length: count }, async () => {
      const response = await service.request('POST', `/v1/distributions/${DISTRO}/processes`, { argv: ['sleep', '60'] });
      if (response.status !== 201) throw new Error(`starting sleep 60: ${response.status} ${JSON.stringify(response.body)}`);
      answered++;
      return elapsedMs(start);
    }),
  ));
  const wallMs = elapsedMs(start);
  rssPerProcess.push(((await service.rssKiB()) - before) / count);
  const stopped = await service.request('DELETE', `/v1/distributions/${DISTRO}/instance`);
  if (stopped.status >= 400) throw new Error(`stopping the instance: ${stopped.status} ${JSON.stringify(stopped.body)}`);
  return { wallMs, latencies };
}

async function burstOnNode(count: number): Promise<Burst> {
  const children: ChildProcess[] = [];
  const start = now();
  const latencies = await Promise.all(
    Array.from({ length: count }, async () => {
      const child = spawn('sleep', ['60'], { stdio: 'ignore' });
      // uv_spawn returns once the child has exec'd: that is its start; 'spawn' only comes a tick later.
      const started = elapsedMs(start);
      children.push(child);
      await once(child, 'spawn');
      return started;
    }),
  );
  const wallMs = elapsedMs(start);
  await Promise.all(
    children.map(async (child) => {
      const exited = once(child, 'exit');
      process.kill(child.pid!, 'SIGKILL');
      await exited;
    }),
  );
  return { wallMs, latencies };
}

const describe = (bursts: Burst[]): string => {
  const first = median(bursts.map((burst) => Math.min(...burst.latencies)));
  const last = median(bursts.map((burst) => Math.max(...burst.latencies)));
  const flatness = median(bursts.map((burst) => quantile(burst.latencies, 0.9) / quantile(burst.latencies, 0.1)));
  return `latency first ${first.toFixed(1)} → last ${last.toFixed(1)} ms, p90/p10 ${flatness.toFixed(2)}`;
};

export const concurrentFamily: Family = {
  name: 'concurrent',
  async rows({ sizes, service }) {
    const count = sizes.concurrent;
    const bursts: Record<'lxssd' | 'floor', Burst[]> = { lxssd: [], floor: [] };
    const rssPerProcess: number[] = [];
    const samples = await interleave(sizes.rounds, {
      lxssd: async () => {
        const burst = await burstOnLxssd(service, count, rssPerProcess);
        bursts.lxssd.push(burst);
        return [burst.wallMs];
      },
      floor: async () => {
        const burst = await burstOnNode(count);
        bursts.floor.push(burst);
        return [burst.wallMs];
      },
    });
    return [
      rowOf({
        what: `${count} concurrent sleep 60 started (wall time to the last)`,
        unit: 'ms',
        kind: 'cost',
        target: '≤ 1.0×, flat latency',
        lxssd: samples.lxssd,
        floor: { what: `Node spawning ${count} children`, samples: samples.floor },
        notes: [`lxssd ${describe(bursts.lxssd)}`, `Node ${describe(bursts.floor)}`],
      }),
      rowOf({
        what: `service RSS per running process (${count} running)`,
        unit: 'KiB',
        kind: 'cost',
        target: '≤ 8 KiB',
        lxssd: rssPerProcess.map((kib) => [kib]),
        notes: ["the lxssd process's VmRSS growth over the burst, ÷ processes"],
      }),
    ];
  },
};
