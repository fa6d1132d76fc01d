// The floors that are servers, each in a Node process of its own as lxssd is: `ws-echo` (a bare ws server
// echoing every frame, with bufferutil when it is installed), `fastify` (an empty route), `sse` (a bare
// Server-Sent Events broadcaster: GET /events subscribes, POST /emit sends one event to all, stringified once).
// Prints {"port":N,...} on its first line. Run: node dist/bench/floor-server.js MODE

import { createRequire } from 'node:module';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import fastify from 'fastify';
import { WebSocketServer } from 'ws';

function hasBufferutil(): boolean {
  try {
    createRequire(import.meta.url).resolve('bufferutil');
    return true;
  } catch {
    return false;
  }
}

function ready(port: number, extra: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ port, ...extra })}\n`);
}

async function wsEcho(): Promise<void> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  server.on('connection', (socket) => socket.on('message', (data: Buffer) => socket.send(data, { binary: true })));
  await new Promise((resolve) => server.once('listening', resolve));
  ready((server.address() as AddressInfo).port, { bufferutil: hasBufferutil() });
}

async function emptyFastify(): Promise<void> {
  const app = fastify({ logger: false });
  app.get('/v1/distributions', async () => ({ distributions: [] }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  ready((app.server.address() as AddressInfo).port);
}

async function sseBroadcaster(): Promise<void> {
  const subscribers = new Set<ServerResponse>();
  let nextId = 1;
  const server = createServer((request, response) => {
    if (request.method === 'GET' && request.url === '/events') {
      response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      response.write(': subscribed\n\n');
      subscribers.add(response);
      response.on('close', () => subscribers.delete(response));
      return;
    }
    if (request.method === 'POST' && request.url === '/emit') {
      const id = nextId++;
      const text = `id: ${id}\nevent: process-exited\ndata: ${JSON.stringify({ id, time: new Date().toISOString(), type: 'process-exited' })}\n\n`;
      for (const subscriber of subscribers) subscriber.write(text);
      response.end(String(id));
      return;
    }
    response.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1', () => ready((server.address() as AddressInfo).port));
}

const modes: Record<string, () => Promise<void>> = { 'ws-echo': wsEcho, fastify: emptyFastify, sse: sseBroadcaster };
const mode = modes[process.argv[2] ?? ''];
if (!mode) throw new Error(`floor-server: MODE is one of ${Object.keys(modes).join(', ')}`);
await mode();
