// Bounds how long a request body may take, on every route: a body that brings less than 16 KiB in bodyIdleTimeout, or
// (unless the route streams it, like an import) is not complete within bodyTimeout, is cut — the client gets a
// 408 if it can still be told and the connection is closed, so whatever was reading the body fails and undoes
// its work. Time the service itself spends not reading (a slow disk under an import) never counts against the
// client. Headers and idle keep-alive connections are bounded by the HTTP servers' own timeouts (listen setup).

import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { IncomingMessage } from 'node:http';
import { ERROR_TABLE } from '../../core/errors.js';
import '../fastify-types.js';

export interface BodyTimeoutOptions {
  /** ms a body may take in all (routes that stream their body are exempt) */
  bodyTimeout: number;
  /** ms a body may go without bringing MIN_PROGRESS_BYTES while the service waits for them */
  bodyIdleTimeout: number;
}

interface Watched {
  readonly request: IncomingMessage;
  readonly streamed: boolean;
  readonly startedAt: number;
  lastBytes: number;
  lastProgress: number;
}

const CHECK_EVERY_MS = 250;
/**
 * What counts as progress: a body that brings fewer bytes than this in bodyIdleTimeout is stalled, so one byte
 * every few seconds keeps nothing open forever (Apache's mod_reqtimeout MinRate, in effect 16 KiB a minute by
 * default — any real link does far better). A body that ends sooner is complete, never cut for its size.
 */
export const MIN_PROGRESS_BYTES = 16 * 1024;

function timeoutResponse(detail: string): string {
  const code = 'LXSSD_E_REQUEST_TIMEOUT';
  const { status, title } = ERROR_TABLE[code];
  const body = JSON.stringify({ type: `urn:lxssd:problem:${code}`, title, status, detail, code });
  return (
    `HTTP/1.1 ${status} Request Timeout\r\ncontent-type: application/problem+json\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`
  );
}

/** Whether the request still has body bytes to come. */
function bodyPending(request: FastifyRequest): boolean {
  const raw = request.raw;
  if (raw.complete || raw.readableEnded) return false;
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

async function bodyTimeouts(app: FastifyInstance, options: BodyTimeoutOptions): Promise<void> {
  const watched = new Set<Watched>();
  let timer: NodeJS.Timeout | undefined;

  const cut = (entry: Watched, detail: string) => {
    watched.delete(entry);
    const socket = entry.request.socket;
    app.log.info({ reqId: (entry.request as { id?: unknown }).id, detail }, 'request body timed out');
    const abort = () => {
      if (!entry.request.destroyed) entry.request.destroy(new Error(`request body timed out: ${detail}`));
    };
    if (!socket.destroyed) {
      // The response has not begun (the body is still being read): say why, half-close, and go on reading until
      // the client closes its side too (or 1 s) — a lingering close. Destroying the connection at once loses the
      // answer for a client still sending: its next write fails before it has read (a Unix socket), or the
      // unread bytes make TCP send a reset that discards it.
      const response = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
      if (!response?.headersSent && socket.writable) {
        socket.write(timeoutResponse(detail));
        socket.end();
        socket.once('close', abort);
        setTimeout(() => {
          abort();
          socket.destroy();
        }, 1000).unref();
        return;
      }
    }
    abort();
  };

  const check = () => {
    const now = Date.now();
    for (const entry of watched) {
      const { request } = entry;
      if (request.complete || request.destroyed) {
        watched.delete(entry);
        continue;
      }
      const bytes = request.socket.bytesRead;
      // Enough bytes arrived, or the service has not yet taken what came (its own slowness): not the client's stall.
      if (bytes - entry.lastBytes >= MIN_PROGRESS_BYTES || request.readableLength > 0) {
        entry.lastBytes = bytes;
        entry.lastProgress = now;
      }
      if (now - entry.lastProgress >= options.bodyIdleTimeout) {
        const seconds = Math.round(options.bodyIdleTimeout / 1000);
        cut(entry, `less than ${MIN_PROGRESS_BYTES / 1024} KiB of body in ${seconds} s: the client has stalled`);
      } else if (!entry.streamed && now - entry.startedAt >= options.bodyTimeout) {
        cut(entry, `the body was not complete within ${Math.round(options.bodyTimeout / 1000)} s`);
      }
    }
    if (watched.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };

  // A callback hook: every request runs it, and an async one costs each a promise.
  app.addHook('onRequest', (request, _reply, done) => {
    if (bodyPending(request)) watch(request);
    done();
  });
  const watch = (request: FastifyRequest): void => {
    const now = Date.now();
    watched.add({
      request: request.raw,
      streamed: request.routeOptions.config.streamedBody === true,
      startedAt: now,
      lastBytes: request.raw.socket.bytesRead,
      lastProgress: now,
    });
    if (!timer) {
      timer = setInterval(check, CHECK_EVERY_MS);
      timer.unref();
    }
  };
  app.addHook('onClose', async () => {
    if (timer) clearInterval(timer);
    watched.clear();
  });
}

export default fp(bodyTimeouts, { name: 'lxssd-body-timeouts' });
