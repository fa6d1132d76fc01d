// A reader's whole output as values (for answers that carry it: `run`, the [boot] command's event), capped.
// Past a cap the bytes are still read and let go, so a cap never holds the process back; it only marks the
// answer truncated.

import type { OutputChunk, OutputCursor, ReadOptions } from './output-log.js';

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

/** What was kept of both channels as text, in the order it came. */
export function collectedText(collected: CollectedOutput): string {
  return Buffer.concat(collected.chunks.map((chunk) => chunk.data)).toString('utf8');
}
