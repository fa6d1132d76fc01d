// Errors reach clients that are still sending: a 413 or 415 refused before (or while) the body is read is
// answered once the body is in, so Node's fetch (undici) gets the problem document instead of EPIPE ("fetch
// failed"). The service runs as its own process: in one process the client's writes and the server's reads
// take turns on one event loop and the race never shows.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rawExchange } from '../helpers/raw-http.js';
import { tokenOf } from '../helpers/process-client.js';
import { serveProcess } from '../helpers/tcp.js';

const MB = 1_000_000;

type BodyKind = 'buffer' | 'stream';

/** `size` bytes of `fill`, as one buffer (sent with a length) or as a stream of 64 KiB chunks (chunked). */
function bodyOf(kind: BodyKind, size: number, fill: number): { body: BodyInit; duplex?: 'half' } {
  if (kind === 'buffer') return { body: Buffer.alloc(size, fill) };
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= size) {
        controller.close();
        return;
      }
      const length = Math.min(64 * 1024, size - sent);
      sent += length;
      controller.enqueue(new Uint8Array(length).fill(fill));
    },
  });
  return { body: stream, duplex: 'half' };
}

describe('errors for large bodies reach Node fetch', () => {
  it('answers 415 and 413 with problem+json for 5 MB and 40 MB bodies, sent whole or streamed', async (t) => {
    const server = await serveProcess(t, { maxImportBytes: 1 << 20 });
    const token = await tokenOf(server);
    const cases = [
      { what: 'text/plain to a JSON route', path: '/v1/tokens', type: 'text/plain', fill: 0x61, code: 'LXSSD_E_UNSUPPORTED_MEDIA_TYPE' },
      { what: 'JSON over the body limit', path: '/v1/tokens', type: 'application/json', fill: 0x20, code: 'LXSSD_E_PAYLOAD_TOO_LARGE' },
      { what: 'an import as application/json', path: '/v1/distributions?name=json', type: 'application/json', fill: 0x61, code: 'LXSSD_E_UNSUPPORTED_MEDIA_TYPE' },
      // Zeros are a tar's end; the limit counts the archive's bytes, so it is hit after 1 MiB of them.
      { what: 'an import over maxImportBytes', path: '/v1/distributions?name=big', type: 'application/x-tar', fill: 0, code: 'LXSSD_E_PAYLOAD_TOO_LARGE' },
    ];
    const expected: Record<string, number> = { LXSSD_E_UNSUPPORTED_MEDIA_TYPE: 415, LXSSD_E_PAYLOAD_TOO_LARGE: 413 };
    // Without the drain about half of these failed with EPIPE; each runs twice so a lucky pass is unlikely.
    for (const round of [1, 2]) {
      for (const size of [5 * MB, 40 * MB]) {
        for (const kind of ['buffer', 'stream'] as const) {
          for (const { what, path, type, fill, code } of cases) {
            const label = `${what}, ${size / MB} MB as a ${kind} (round ${round})`;
            let response: Response;
            try {
              response = await fetch(`${server.url}${path}`, {
                method: 'POST',
                headers: { authorization: `Bearer ${token}`, 'content-type': type },
                ...bodyOf(kind, size, fill),
              });
            } catch (error) {
              const cause = (error as { cause?: { code?: string; message?: string } }).cause;
              assert.fail(`${label}: fetch failed (${cause?.code ?? ''} ${cause?.message ?? (error as Error).message})`);
            }
            assert.equal(response.status, expected[code], label);
            assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/, label);
            const problem = (await response.json()) as { code: string; status: number };
            assert.equal(problem.code, code, label);
            assert.equal(problem.status, expected[code], label);
          }
        }
      }
    }
    const listed = await fetch(`${server.url}/v1/distributions`, { headers: { authorization: `Bearer ${token}` } });
    assert.deepEqual(((await listed.json()) as { distributions: unknown[] }).distributions, [], 'nothing was registered');
  });

  it('answers a body past the drain bound (by its length, or one that stops coming) and closes the connection', async (t) => {
    const server = await serveProcess(t);
    const token = await tokenOf(server);
    const head = (length: number) =>
      `POST /v1/distributions?name=x HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nAuthorization: Bearer ${token}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;

    // 1 GiB declared: never read at all, the answer comes at once.
    const declared = await rawExchange({ port: server.port }, `${head(1 << 30)}{"partial":`);
    assert.equal(declared.status, 415, declared.text);
    assert.equal(declared.body.code, 'LXSSD_E_UNSUPPORTED_MEDIA_TYPE');
    assert.equal(declared.headers.connection, 'close');
    assert.equal(declared.closed, true, 'the connection is closed: the rest is not read');

    // 1 MB declared, 11 bytes sent, then nothing: the drain gives up after its time bound and answers.
    const stalled = await rawExchange({ port: server.port }, `${head(MB)}{"partial":`);
    assert.equal(stalled.status, 415, stalled.text);
    assert.equal(stalled.headers.connection, 'close');
    assert.equal(stalled.closed, true);

    const version = await fetch(`${server.url}/v1/version`);
    assert.equal(version.status, 200, 'the service still answers');
  });
});
