// Subscribers of a test server's /v1/events with a token: a WebSocket, or a Server-Sent Events response.

import { once } from 'node:events';
import { get as httpGet, type IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import type { TestServer } from './server.js';

export function eventsUrl(server: Pick<TestServer, 'port'>): string {
  return `ws://127.0.0.1:${server.port}/v1/events`;
}

/**
 * An open WebSocket subscription, and how it closed. Returns an object: an async function's returned promise
 * would be awaited in its place.
 */
export async function openEventsSocket(
  server: Pick<TestServer, 'port'>,
  token: string,
): Promise<{ socket: WebSocket; closed: Promise<{ code: number; reason: string }> }> {
  const socket = new WebSocket(eventsUrl(server), ['lxss.events.v1', `lxss.token.${token}`]);
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await once(socket, 'open');
  return { socket, closed };
}

/** The response to an `Accept: text/event-stream` request (any status; the caller reads or resumes it). */
export function openEventSource(server: Pick<TestServer, 'url'>, token: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) =>
    httpGet(`${server.url}/v1/events`, { headers: { accept: 'text/event-stream', authorization: `Bearer ${token}` } }, resolve).on(
      'error',
      reject,
    ),
  );
}
