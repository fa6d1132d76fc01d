// Bytes on a raw socket (TCP or the local socket) and the one HTTP/1.1 answer to them: for requests no HTTP
// client would send (a malformed request line, oversized headers, a WebSocket handshake without a key).

import { connect, type Socket } from 'node:net';

export interface RawAnswer {
  status: number;
  /** lower-case names */
  headers: Record<string, string>;
  text: string;
  /** the body parsed as JSON, or undefined */
  body: any;
  /** the server closed the connection after the answer */
  closed: boolean;
}

export type RawTarget = { port: number } | { socketPath: string };

function parse(buffer: Buffer): { answer: Omit<RawAnswer, 'closed'>; complete: boolean } | undefined {
  const end = buffer.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine, ...lines] = buffer.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1]);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = headers['content-length'] === undefined ? 0 : Number(headers['content-length']);
  const bodyBytes = buffer.subarray(end + 4, end + 4 + length);
  const text = bodyBytes.toString('utf8');
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { answer: { status, headers, text, body }, complete: bodyBytes.length >= length };
}

/**
 * Sends `bytes` and resolves with the answer. With `awaitClose` (the default) it also waits for the server to
 * close the connection and says whether it did; otherwise it hangs up itself once the answer is complete.
 */
export function rawExchange(target: RawTarget, bytes: string | Buffer, { awaitClose = true } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket: Socket = 'port' in target ? connect(target.port, '127.0.0.1') : connect(target.socketPath);
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (closed: boolean) => {
      if (settled) return;
      const parsed = parse(received);
      if (!parsed?.complete) {
        if (closed) {
          settled = true;
          reject(new Error(`the connection closed before a complete answer: ${JSON.stringify(received.toString('latin1'))}`));
        }
        return;
      }
      if (awaitClose && !closed) return;
      settled = true;
      socket.destroy();
      resolve({ ...parsed.answer, closed });
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      finish(false);
    });
    socket.on('close', () => finish(true));
    // A reset after the answer (the server closed with our unread bytes pending) is still a close.
    socket.on('error', () => undefined);
    socket.write(bytes);
  });
}
