// A reader's whole output as values (for answers that carry it: `run`, the [boot] command's event), capped.
// Past a cap the bytes are still read and let go, so a cap never holds the process back; it only marks the
// answer truncated.

import type { Readable } from 'node:stream';
import { type OutputChunk, type OutputCursor, OutputLog, type ReadOptions } from './output-log.js';

export interface CollectOptions extends ReadOptions {
  /** bytes kept of each channel (stdout, stderr) */
  maxBytesPerChannel?: number;
  /** bytes kept of both channels together */
  maxBytes?: number;
}

export interface CollectedOutput {
  /** what was kept, in the order it came: both channels interleaved */
  chunks: OutputChunk[];
  /** the same pieces by channel (no copy is made of them) */
  stdout: Buffer[];
  stderr: Buffer[];
  /** some output was left out for a cap */
  truncated: boolean;
}

/** Reads `cursor` until the output is finished (or `options` stop it) and closes it. */
export async function collect(cursor: OutputCursor, options: CollectOptions = {}): Promise<CollectedOutput> {
  const { maxBytesPerChannel = Infinity, maxBytes = Infinity, ...read } = options;
  const collected: CollectedOutput = { chunks: [], stdout: [], stderr: [], truncated: false };
  const sizes = { 1: 0, 2: 0 };
  let total = 0;
  for await (const chunk of cursor.chunks(read)) {
    const room = Math.min(maxBytesPerChannel - sizes[chunk.channel], maxBytes - total);
    if (chunk.data.length > room) collected.truncated = true;
    if (room <= 0) continue;
    const kept = chunk.data.length > room ? chunk.data.subarray(0, room) : chunk.data;
    collected.chunks.push({ channel: chunk.channel, data: kept });
    (chunk.channel === 1 ? collected.stdout : collected.stderr).push(kept);
    sizes[chunk.channel] += kept.length;
    total += kept.length;
  }
  return collected;
}

/** Collects a program's stdout and stderr until both have ended, through an OutputLog of its own. */
export function collectStreams(
  streams: { stdout: Readable | null; stderr: Readable | null },
  options: CollectOptions = {},
): Promise<CollectedOutput> {
  const log = new OutputLog();
  if (streams.stdout) log.addSource(streams.stdout, 1);
  if (streams.stderr) log.addSource(streams.stderr, 2);
  return collect(log.attach(), options);
}

/** What was kept of both channels as text, in the order it came. */
export function collectedText(collected: CollectedOutput): string {
  return Buffer.concat(collected.chunks.map((chunk) => chunk.data)).toString('utf8');
}
