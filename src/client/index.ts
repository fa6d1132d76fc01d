// The typed client of the lxssd API: openapi-fetch over the types generated from the committed document
// (src/client/openapi.ts, by scripts/generate-client.sh), on loopback TCP with a bearer token or on the local
// socket, where the kernel vouches for the caller and no token is needed.

import createClient, { type Client } from 'openapi-fetch';
import { Agent, fetch as undiciFetch, Request as UndiciRequest } from 'undici';
import type { components, paths } from './openapi.js';

export type { components, paths };
export type LxssClient = Client<paths>;
export type Schemas = components['schemas'];

export type ServerAddress =
  /** Loopback TCP, e.g. `http://127.0.0.1:7071`. */
  | { url: string; token: string }
  /** The service's local socket; the Host it is asked for is `localhost`, as the loopback guard wants. */
  | { socketPath: string; token?: string };

/** A binary body (an import's archive, stdin) goes as it is; anything else is JSON. */
function serializeBody(body: unknown): unknown {
  if (body instanceof Uint8Array || body instanceof Blob || body instanceof ReadableStream) return body;
  return JSON.stringify(body);
}

export interface ClientHandle {
  api: LxssClient;
  /** The base URL requests go to (for the socket, the `http://localhost` every request there carries). */
  baseUrl: string;
  /** Closes the connections the client keeps open. */
  close(): Promise<void>;
}

export function createLxssClient(address: ServerAddress): ClientHandle {
  const socketPath = 'socketPath' in address ? address.socketPath : undefined;
  const dispatcher = new Agent(socketPath === undefined ? {} : { connect: { socketPath } });
  const baseUrl = socketPath === undefined ? (address as { url: string }).url.replace(/\/+$/, '') : 'http://localhost';
  const api = createClient<paths>({
    baseUrl,
    // undici's own fetch and Request, so the socket dispatcher and a streamed body (duplex) are its kind.
    Request: UndiciRequest as unknown as typeof Request,
    fetch: (request: Request) => undiciFetch(request as never, { dispatcher }) as unknown as Promise<Response>,
    bodySerializer: serializeBody as never,
    duplex: 'half',
    headers: address.token === undefined ? {} : { authorization: `Bearer ${address.token}` },
  } as Parameters<typeof createClient<paths>>[0]);
  return { api, baseUrl, close: () => dispatcher.close() };
}
