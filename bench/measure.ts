// What every row family shares: interleaved rounds, quantiles, ratio statistics, the row shape, and the
// Markdown table / results.json writers. A machine shared with others is noisy, so no absolute time means
// anything across runs: each ratio is taken within one round, lxssd and its floor run back to back.

import { writeFile } from 'node:fs/promises';

/** Milliseconds since `start` (from `now()`), at hrtime resolution. */
export function elapsedMs(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export const now = (): bigint => process.hrtime.bigint();

/** How long `fn` takes, in ms. */
export async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const start = now();
  await fn();
  return elapsedMs(start);
}

/** `fn` timed `runs` times one after another, after `warmup` untimed calls. */
export async function repeatMs(runs: number, fn: () => Promise<unknown>, warmup = Math.min(3, runs)): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) samples.push(await timeMs(fn));
  return samples;
}

/** The q-quantile (0..1) of `samples`, nearest rank. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** The middle sample, or the mean of the two middle ones. */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export interface Spread {
  min: number;
  median: number;
  max: number;
}

export function spread(values: readonly number[]): Spread {
  return { min: Math.min(...values), median: median(values), max: Math.max(...values) };
}

/**
 * Runs each side once per round, all sides inside one round back to back, and rotates which side goes first
 * from round to round (A B, B A, …) so neither always gets the warmer machine. Returns each side's samples
 * per round.
 */
export async function interleave<K extends string>(
  rounds: number,
  sides: Record<K, () => Promise<number[]>>,
): Promise<Record<K, number[][]>> {
  const names = Object.keys(sides) as K[];
  const results = Object.fromEntries(names.map((name) => [name, [] as number[][]])) as Record<K, number[][]>;
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + round) % names.length]!;
      results[name].push(await sides[name]());
    }
  }
  return results;
}

/**
 * `cost`: lxssd's median ÷ the other's, per round (times: above 1 is slower). `rate`: the other's ÷ lxssd's
 * (throughputs: above 1 is slower too). Either way the result reads "lxssd is N× the floor's cost".
 */
export function ratioPerRound(lxssd: number[][], other: number[][], kind: 'cost' | 'rate'): number[] {
  return lxssd.map((samples, round) => {
    const mine = median(samples);
    const theirs = median(other[round]!);
    return kind === 'cost' ? mine / theirs : theirs / mine;
  });
}

export interface Peer {
  what: string;
  /** the peer's median over all its samples */
  median: number;
  /** how many times faster lxssd is, per round: min/median/max */
  lxssdFaster: Spread;
}

export interface Row {
  what: string;
  unit: string;
  lxssd: { median: number; p99: number };
  floor?: { what: string; median: number };
  /** lxssd's cost over the floor's, per round */
  ratio?: Spread;
  target: string;
  peers: Peer[];
  /** what else the row measured (latency first vs last, whether bufferutil was there, …) */
  notes: string[];
}

/** A row from interleaved samples: lxssd, its floor (optional), peers (lxssd ÷ peer per round, inverted). */
export function rowOf(spec: {
  what: string;
  unit: string;
  kind: 'cost' | 'rate';
  target: string;
  lxssd: number[][];
  floor?: { what: string; samples: number[][] };
  peers?: Array<{ what: string; samples: number[][] }>;
  notes?: string[];
}): Row {
  const all = spec.lxssd.flat();
  return {
    what: spec.what,
    unit: spec.unit,
    // The slow tail: for a time its 99th percentile, for a rate its 1st.
    lxssd: { median: median(all), p99: quantile(all, spec.kind === 'cost' ? 0.99 : 0.01) },
    ...(spec.floor
      ? {
          floor: { what: spec.floor.what, median: median(spec.floor.samples.flat()) },
          ratio: spread(ratioPerRound(spec.lxssd, spec.floor.samples, spec.kind)),
        }
      : {}),
    target: spec.target,
    peers: (spec.peers ?? []).map((peer) => ({
      what: peer.what,
      median: median(peer.samples.flat()),
      lxssdFaster: spread(ratioPerRound(spec.lxssd, peer.samples, spec.kind).map((ratio) => 1 / ratio)),
    })),
    notes: spec.notes ?? [],
  };
}

function number(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const size = Math.abs(value);
  return size >= 100 ? value.toFixed(0) : size >= 10 ? value.toFixed(1) : value.toFixed(2);
}

const ratioText = (s: Spread): string => `${number(s.median)}× (${number(s.min)}–${number(s.max)})`;

/** One Markdown table, a row per measurement. */
export function markdownTable(rows: readonly Row[]): string {
  const lines = [
    '| what | lxssd median | lxssd p99 | floor (same run) | ratio median (min–max) | target | peers | notes |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const row of rows) {
    const unit = ` ${row.unit}`;
    const floor = row.floor ? `${row.floor.what}: ${number(row.floor.median)}${unit}` : '';
    const peers = row.peers
      .map((peer) => `${peer.what}: ${number(peer.median)}${unit}, lxssd ${ratioText(peer.lxssdFaster)} faster`)
      .join('; ');
    const cells = [
      row.what,
      `${number(row.lxssd.median)}${unit}`,
      `${number(row.lxssd.p99)}${unit}`,
      floor,
      row.ratio ? ratioText(row.ratio) : '',
      row.target,
      peers,
      row.notes.join('; '),
    ];
    lines.push(`| ${cells.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`);
  }
  return lines.join('\n');
}

export async function writeResults(path: string, meta: Record<string, unknown>, rows: readonly Row[]): Promise<void> {
  await writeFile(path, `${JSON.stringify({ ...meta, rows }, null, 2)}\n`);
}
