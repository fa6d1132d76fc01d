// Wire types of a process's stdio over plain HTTP: GET /v1/processes/{id}/output and POST /v1/processes/{id}/stdin.

import { Type, type Static } from '@sinclair/typebox';
import { StringEnum } from './schema-helpers.js';

/** The media types a stdin body may come as: bytes, or no type at all (what `curl -T` sends). */
export const STDIN_MEDIA_TYPE = 'application/octet-stream';
/** The trailer of a raw output stream that ended with the exit: the exit code as the shell reports it. */
export const EXIT_CODE_TRAILER = 'lxssd-exit-code';

export const OutputQuery = Type.Object(
  {
    follow: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          'true: keep the response open and stream the output as it comes, until the process has exited and its ' +
          'output is complete; false: what is there now, then the end',
      }),
    ),
    stream: Type.Optional(
      StringEnum(['stdout', 'stderr', 'both'], {
        default: 'both',
        description: 'which output to send (a terminal has only stdout); this reader reads past the other one',
      }),
    ),
    format: Type.Optional(
      StringEnum(['raw', 'ndjson'], {
        default: 'raw',
        description:
          'raw: the bytes as they came (application/octet-stream); ndjson: one JSON object a line ' +
          '(application/x-ndjson), the last one the exit status',
      }),
    ),
  },
  { additionalProperties: false },
);
export type OutputQuery = Static<typeof OutputQuery>;

export const StdinQuery = Type.Object(
  {
    eof: Type.Optional(
      Type.Boolean({ default: false, description: 'close stdin (EOF) once the whole body has been written' }),
    ),
  },
  { additionalProperties: false },
);
export type StdinQuery = Static<typeof StdinQuery>;

export const StdinBody = Type.String({ format: 'binary', description: 'bytes for the process’s stdin, of any length' });

export const OUTPUT_DESCRIPTION =
  'The process’s output for curl and other plain HTTP clients: the same log the stdio WebSocket reads, kept from ' +
  'the start until a reader has read it (a reader gets everything no reader has read yet, so a late reader gets ' +
  'it all), never dropped: a client that reads slowly slows the process. `format=raw` (default) sends the bytes ' +
  `(both streams interleaved as they came, unless \`stream\` picks one); when the stream ended with the exit, a ` +
  `\`${EXIT_CODE_TRAILER}\` trailer carries the exit code, which GET /v1/processes/{id} also gives afterwards. ` +
  '`format=ndjson` sends lines `{"stream":"stdout","data":"..."}`: `data` is the bytes as text when they are ' +
  'UTF-8 (a character split between two reads is kept whole), else base64 with `"encoding":"base64"`; ' +
  'the last line is `{"exit":{"exitCode":N,"signal":S}}` (signal null unless a signal ended it), so ' +
  '`tail -n 1` tells a shell the exit status. Without that line the stream ended first (follow=false while ' +
  'it runs, a revoked token, the service shutting down, which cuts the response short). While following, ' +
  'the response holds one of the caller’s maxStreams places.';

export const STDIN_DESCRIPTION =
  'Writes the request body to the process’s stdin, read only as fast as the process takes it, so a body of any ' +
  `length (${STDIN_MEDIA_TYPE}, or no Content-Type as \`curl -T\` sends it; chunked or with a Content-Length) ` +
  'costs the service no more than a chunk. `eof=true` closes stdin after the whole body (a body cut short never ' +
  'does); a request with no body and `eof=true` just closes it. One writer at a time: while another request or ' +
  'a WebSocket writes stdin, or when the process has no stdin (created without `stdin: true`) or it is closed, ' +
  'the answer is 409 before a byte is read. A process that exits before taking the whole body is a 409 too, ' +
  'saying how much it took. The body must keep arriving (at least 16 KiB per bodyIdleTimeout, or the request ' +
  'is cut with a 408); for interactive input use the stdio WebSocket. While the body streams, the request ' +
  'holds one of the caller’s maxStreams places.';
