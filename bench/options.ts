// The bench's sizes: the (default), --quick (minutes on a shared machine), --smoke (seconds: the
// test that keeps the scripts from rotting), each size overridable by its own flag.

import { parseArgs } from 'node:util';

export interface Sizes {
  /** interleaved rounds per row */
  rounds: number;
  /** timed runs per side per round (run ["true"], exec, cold start) */
  runs: number;
  /** bytes per stream per round */
  streamBytes: number;
  /** WebSocket sends kept in flight by the stdio client */
  window: number;
  /** processes started at once */
  concurrent: number;
  /** SSE subscribers, and runs whose events they receive, per round */
  subscribers: number;
  sseRuns: number;
  /** connections and seconds per side per round of the request-rate row */
  connections: number;
  apiSeconds: number;
}

export interface Options {
  sizes: Sizes;
  peers: boolean;
  /** row families to run (all when empty) */
  only: string[];
  /** where results.json goes */
  out: string;
}

const FULL: Sizes = {
  rounds: 5, runs: 100, streamBytes: 1 << 30, window: 16, concurrent: 1000,
  subscribers: 100, sseRuns: 1000, connections: 64, apiSeconds: 5,
};
const QUICK: Sizes = {
  rounds: 3, runs: 20, streamBytes: 64 << 20, window: 16, concurrent: 200,
  subscribers: 20, sseRuns: 100, connections: 64, apiSeconds: 2,
};
const SMOKE: Sizes = {
  rounds: 2, runs: 3, streamBytes: 256 << 10, window: 4, concurrent: 4,
  subscribers: 2, sseRuns: 3, connections: 4, apiSeconds: 1,
};

const SIZE_FLAGS = {
  rounds: 'rounds', runs: 'runs', streamBytes: 'bytes', window: 'window', concurrent: 'concurrent',
  subscribers: 'subscribers', sseRuns: 'sse-runs', connections: 'connections', apiSeconds: 'api-seconds',
} as const satisfies Record<keyof Sizes, string>;

export const USAGE = `npm run bench -- [--quick | --smoke] [--peers] [--only a,b] [--out FILE]
  [--rounds N] [--runs N] [--bytes N] [--window N] [--concurrent N] [--subscribers N] [--sse-runs N]
  [--connections N] [--api-seconds N]
row families (--only): exec, stdio, api, cold-start, concurrent, sse`;

export function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: 'boolean' },
      smoke: { type: 'boolean' },
      peers: { type: 'boolean' },
      only: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      ...Object.fromEntries(Object.values(SIZE_FLAGS).map((flag) => [flag, { type: 'string' as const }])),
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const sizes = { ...(values.smoke ? SMOKE : values.quick ? QUICK : FULL) };
  for (const [key, flag] of Object.entries(SIZE_FLAGS) as Array<[keyof Sizes, string]>) {
    const given = (values as Record<string, unknown>)[flag];
    if (typeof given !== 'string') continue;
    const value = Number(given);
    if (!Number.isInteger(value) || value < 1) throw new Error(`--${flag} wants a positive integer, not ${given}`);
    sizes[key] = value;
  }
  return {
    sizes,
    peers: values.peers === true,
    only: typeof values.only === 'string' ? values.only.split(',').filter(Boolean) : [],
    out: typeof values.out === 'string' ? values.out : new URL('../../bench/results.json', import.meta.url).pathname,
  };
}
