// A process's stdio for plain HTTP clients (curl): its output as one byte stream (raw, or NDJSON lines ending
// with the exit status) read through an OutputLog cursor, and a stream of bytes written to its stdin as its one
// writer. Both go only as fast as the other side takes them; neither ever buffers more than a chunk or two.

import { isUtf8 } from 'node:buffer';
import { Readable } from 'node:stream';
import type { ExitStatus } from '../hv/index.js';
import { LxssError } from './errors.js';
import type { OutputChunk, OutputCursor } from './output-log.js';
import { type ProcessEntry, StdinRefused } from './processes.js';

export type OutputSelection = 'stdout' | 'stderr' | 'both';
export type OutputFormat = 'raw' | 'ndjson';

export interface OutputStreamOptions {
  /** keep going until the process has exited and its output is complete; else end with what is there now */
  follow: boolean;
  stream: OutputSelection;
  format: OutputFormat;
}

const STREAM_NAMES = { 1: 'stdout', 2: 'stderr' } as const;
/** What the stream holds for a slow client before it stops reading the log (which then pauses the process). */
const HIGH_WATER = 64 * 1024;

/**
 * Bytes at the end of `data` that begin a UTF-8 sequence the chunk does not finish (0 to 3): held back so a
 * character split between two reads of a pipe still goes out as text.
 */
function incompleteTail(data: Buffer): number {
  for (let back = 1; back <= Math.min(3, data.length); back++) {
    const byte = data[data.length - back]!;
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: look further back for its lead byte
    const needs = byte >= 0xf0 && byte <= 0xf7 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return needs > back ? back : 0;
  }
  return 0;
}

/** One NDJSON line: text when the bytes are UTF-8, else base64 with `"encoding":"base64"`. */
function ndjsonLine(channel: 1 | 2, data: Buffer): Buffer {
  const stream = STREAM_NAMES[channel];
  const line = isUtf8(data)
    ? { stream, data: data.toString('utf8') }
    : { stream, encoding: 'base64', data: data.toString('base64') };
  return Buffer.from(`${JSON.stringify(line)}\n`);
}

/**
 * A process's output as a readable byte stream, from a cursor of its OutputLog: everything no reader has read yet,
 * then (with `follow`) what comes, until the process has exited and its output is complete. In `ndjson` format
 * the last line is `{"exit":{"exitCode":N,"signal":S}}` — only when the stream ended with the exit. The stream
 * reads the log only as fast as its consumer reads it, so a slow client slows the process.
 */
export class ProcessOutputStream extends Readable {
  /** the exit status the stream ended with; null while it runs or when it ended before the exit */
  exitStatus: ExitStatus | null = null;
  private readonly cursor: OutputCursor;
  private readonly chunks: AsyncGenerator<OutputChunk, void, undefined>;
  private readonly stopped = new AbortController();
  private pumping = false;
  /** an incomplete UTF-8 sequence held back (ndjson), flushed before any other stream's bytes */
  private held: OutputChunk | undefined;

  constructor(
    private readonly entry: ProcessEntry,
    private readonly options: OutputStreamOptions,
  ) {
    super({ highWaterMark: HIGH_WATER });
    this.cursor = entry.output.attach();
    // Without follow, it stops at what was there when asked — unless the output is complete by then: all of it.
    const end = entry.output.end;
    this.chunks = this.cursor.chunks({
      signal: this.stopped.signal,
      until: entry.done,
      ...(options.follow ? {} : { stopWhen: (cursor) => cursor.position >= end && !entry.outputSettled }),
    });
  }

  override _read(): void {
    if (this.pumping) return;
    this.pumping = true;
    this.pump().catch((error: unknown) => this.destroy(error as Error));
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.stopped.abort();
    this.cursor.close();
    callback(error);
  }

  /** Pushes until the consumer has enough (it calls _read again), or to the end. */
  private async pump(): Promise<void> {
    for (;;) {
      const next = await this.chunks.next();
      if (this.destroyed) return;
      if (next.done) break;
      if (!this.deliver(next.value)) {
        // Cleared before returning, so the consumer's next _read (however soon) starts a new pump.
        this.pumping = false;
        return;
      }
    }
    // The output is complete (or, following, all its sources ended): the exit status follows once it has exited.
    if (!this.entry.outputSettled && !(this.options.follow && this.cursor.finished)) {
      this.finish(null);
      return;
    }
    const stopped = new Promise<null>((resolve) => this.stopped.signal.addEventListener('abort', () => resolve(null)));
    const status = await Promise.race([this.entry.done, stopped]);
    if (status) this.finish(status);
  }

  /** Pushes a chunk in the asked format; false when the consumer has enough for now. */
  private deliver(chunk: OutputChunk): boolean {
    const { stream, format } = this.options;
    if (stream !== 'both' && STREAM_NAMES[chunk.channel] !== stream) return true;
    if (format === 'raw') return this.push(chunk.data);
    let data = chunk.data;
    let ready = true;
    if (this.held) {
      const held = this.held;
      this.held = undefined;
      if (held.channel === chunk.channel) data = Buffer.concat([held.data, data]);
      else ready = this.push(ndjsonLine(held.channel, held.data));
    }
    const tail = incompleteTail(data);
    if (tail > 0) {
      this.held = { channel: chunk.channel, data: Buffer.from(data.subarray(data.length - tail)) };
      data = data.subarray(0, data.length - tail);
    }
    if (data.length === 0) return ready;
    return this.push(ndjsonLine(chunk.channel, data)) && ready;
  }

  private finish(status: ExitStatus | null): void {
    if (this.options.format === 'ndjson') {
      if (this.held) this.push(ndjsonLine(this.held.channel, this.held.data));
      this.held = undefined;
      if (status) this.push(`${JSON.stringify({ exit: { exitCode: status.exitCode, signal: status.signal } })}\n`);
    }
    this.exitStatus = status;
    this.cursor.close();
    this.push(null);
  }
}

/**
 * Writes `body` to the process's stdin as its one writer (StdinRefused, before a byte is read, when another
 * writer holds it or it is closed), reading the body only as fast as the process takes it; with `eof`, closes
 * stdin once the whole body is in. Returns the bytes written. A body cut short never closes stdin.
 */
export async function pipeToStdin(entry: ProcessEntry, body: AsyncIterable<Buffer> | undefined, eof: boolean): Promise<number> {
  const owner = {};
  entry.takeStdin(owner);
  let bytes = 0;
  try {
    if (body) {
      for await (const chunk of body) {
        await entry.writeStdin(owner, chunk).catch((error: unknown) => {
          if (error instanceof StdinRefused && error.reason === 'exited') {
            throw new LxssError(
              'E_ILLEGAL_STATE_CHANGE',
              `the process exited after taking ${bytes} bytes of stdin; the rest of the body was not read`,
            );
          }
          throw error;
        });
        bytes += chunk.length;
      }
    }
    if (eof) entry.closeStdin(owner);
  } finally {
    entry.releaseStdin(owner);
  }
  return bytes;
}
