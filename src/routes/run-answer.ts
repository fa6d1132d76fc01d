// The answer of `run`, written as JSON a piece at a time: the output is encoded (and JSON-escaped) one slice
// after another, so however large it encodes — a NUL is six bytes as `\u0000` — the service holds the raw
// output and one encoded slice, never the whole answer as a string.

import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { RunResult } from '../core/processes.js';

/** Raw bytes encoded at a time: at most 6 × this in one piece of the answer. */
const SLICE = 64 * 1024;

export type RunEncoding = 'utf8' | 'base64';

/** The RunResultSchema document of `result`, as a stream of JSON text (members in the schema's order). */
export function runAnswer(result: RunResult, encoding: RunEncoding): Readable {
  return Readable.from(pieces(result, encoding), { objectMode: false });
}

function* pieces(result: RunResult, encoding: RunEncoding): Generator<Buffer> {
  const text = (value: string) => Buffer.from(value, 'utf8');
  yield text(`{"id":${JSON.stringify(result.id)},"exitCode":${result.exitCode},"signal":${JSON.stringify(result.signal)},"stdout":"`);
  yield* encoded(result.stdout, encoding);
  yield text('","stderr":"');
  yield* encoded(result.stderr, encoding);
  yield text(
    `","encoding":${JSON.stringify(encoding)},"truncated":${result.truncated},"timedOut":${result.timedOut},` +
      `"error":${JSON.stringify(result.error)}}`,
  );
}

function* slices(chunks: readonly Buffer[]): Generator<Buffer> {
  for (const chunk of chunks) {
    for (let at = 0; at < chunk.length; at += SLICE) yield chunk.subarray(at, at + SLICE);
  }
}

/** The inside of a JSON string: base64 (3 bytes carried over between slices), or UTF-8 text escaped. */
function* encoded(chunks: readonly Buffer[], encoding: RunEncoding): Generator<Buffer> {
  if (encoding === 'base64') {
    let carry: Buffer = Buffer.alloc(0);
    for (const slice of slices(chunks)) {
      const data = carry.length > 0 ? Buffer.concat([carry, slice]) : slice;
      const whole = data.length - (data.length % 3);
      if (whole > 0) yield Buffer.from(data.subarray(0, whole).toString('base64'), 'latin1');
      carry = data.subarray(whole);
    }
    if (carry.length > 0) yield Buffer.from(carry.toString('base64'), 'latin1');
    return;
  }
  // A character split between slices is put together again; invalid bytes become U+FFFD, as toString does.
  const decoder = new StringDecoder('utf8');
  const escape = (value: string) => Buffer.from(JSON.stringify(value).slice(1, -1), 'utf8');
  for (const slice of slices(chunks)) {
    const value = decoder.write(slice);
    if (value !== '') yield escape(value);
  }
  const rest = decoder.end();
  if (rest !== '') yield escape(rest);
}
