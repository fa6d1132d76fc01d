// Authenticated GET /v1/distributions over TCP with `connections` connections, against an empty fastify route
// in a Node process of its own, both loaded by autocannon, itself a process of its own.

import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import type { Family } from './family.js';
import { startFloor } from './floor-process.js';
import { interleave, median, rowOf } from './measure.js';

const run = promisify(execFile);
const autocannon = createRequire(import.meta.url).resolve('autocannon/autocannon.js');

interface Load {
  rate: number;
  p99Ms: number;
}

interface Result {
  requests: { average: number };
  latency: { p99: number };
  duration: number;
  non2xx: number;
  errors: number;
  '2xx': number;
}

async function autocannonRun(url: string, connections: number, limit: string[], headers: string[]): Promise<Result> {
  const { stdout } = await run(
    process.execPath,
    [autocannon, '-j', '-c', String(connections), ...limit, ...headers.flatMap((h) => ['-H', h]), url],
    { maxBuffer: 16 << 20 },
  );
  const result = JSON.parse(stdout) as Result;
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result['2xx']} 2xx, ${result.non2xx} other, ${result.errors} errors`);
  return result;
}

async function load(url: string, connections: number, seconds: number, headers: string[]): Promise<Load> {
  const timed = await autocannonRun(url, connections, ['-d', String(seconds)], headers);
  if (timed['2xx'] > 0) return { rate: timed.requests.average, p99Ms: timed.latency.p99 };
  // Nothing came back within a short window (a stalled, overloaded machine): a fixed amount always ends.
  const counted = await autocannonRun(url, connections, ['-a', String(connections * 20)], headers);
  return { rate: counted['2xx'] / counted.duration, p99Ms: counted.latency.p99 };
}

export const apiRateFamily: Family = {
  name: 'api',
  async rows({ sizes, service }) {
    const floor = await startFloor('fastify');
    try {
      const p99s: number[] = [];
      const { connections, apiSeconds } = sizes;
      const samples = await interleave(sizes.rounds, {
        lxssd: async () => {
          const result = await load(`${service.url}/v1/distributions`, connections, apiSeconds, [`authorization=Bearer ${service.token}`]);
          p99s.push(result.p99Ms);
          return [result.rate];
        },
        floor: async () => [(await load(`http://127.0.0.1:${floor.port}/v1/distributions`, connections, apiSeconds, [])).rate],
      });
      return [
        rowOf({
          what: `authenticated GET /v1/distributions, ${connections} connections`,
          unit: 'req/s',
          kind: 'rate',
          target: '≤ 1.5×',
          lxssd: samples.lxssd,
          floor: { what: 'empty fastify route, same tool (autocannon)', samples: samples.floor },
          notes: [`${apiSeconds} s per side per round`, `lxssd latency p99 ${median(p99s)} ms`],
        }),
      ];
    } finally {
      await floor.stop();
    }
  },
};
