// Finding the server, in this order: LXSS_HOST (+ LXSS_TOKEN, or the saved token) when set, with no fallback;
// LXSS_SOCKET when set; root's socket, then this user's; then the saved token's URL. The first that answers
// is used; when none does, the failure names everything that was tried.

import { homedir } from 'node:os';
import type { ClientOptions } from 'ws';
import { type ClientHandle, createLxssClient } from '../client/index.js';
import { defaultSocketPath, defaultStateDir } from '../config.js';
import { CliFailure } from './failure.js';
import { readSavedToken, savedTokenPath } from './token-file.js';

/** Root's service's socket (the system one), as lxssd itself defaults it. */
export const ROOT_SOCKET = defaultSocketPath(true, '');

export type Endpoint = { kind: 'socket'; socketPath: string; token?: string } | { kind: 'tcp'; url: string; token: string };

export interface Connection {
  endpoint: Endpoint;
  client: ClientHandle;
  /** Where a WebSocket for `path` goes, with the options and subprotocols that authenticate it. */
  webSocket(path: string, protocol: string): { url: string; protocols: string[]; options: ClientOptions };
  /** What this connection is, for messages. */
  describe: string;
}

/** The socket of a service this user runs, as lxssd itself defaults it. */
export function userSocketPath(env: NodeJS.ProcessEnv): string {
  return defaultSocketPath(false, defaultStateDir(false, env.HOME || homedir()));
}

function describeEndpoint(endpoint: Endpoint): string {
  return endpoint.kind === 'socket' ? endpoint.socketPath : endpoint.url;
}

export function connectTo(endpoint: Endpoint): Connection {
  const client = createLxssClient(
    endpoint.kind === 'socket' ? { socketPath: endpoint.socketPath, token: endpoint.token } : { url: endpoint.url, token: endpoint.token },
  );
  return {
    endpoint,
    client,
    describe: describeEndpoint(endpoint),
    webSocket(path, protocol) {
      if (endpoint.kind === 'socket') {
        // The loopback guard wants Host localhost on the socket, as on every request there.
        return { url: `ws+unix://${endpoint.socketPath}:${path}`, protocols: [protocol], options: { headers: { host: 'localhost' } } };
      }
      const url = `${endpoint.url.replace(/^http/, 'ws').replace(/\/+$/, '')}${path}`;
      return { url, protocols: [protocol, `lxss.token.${endpoint.token}`], options: {} };
    },
  };
}

/**
 * Why an endpoint does not answer, or undefined when it does. Any HTTP answer counts: a refused token is for
 * the request itself to report, with the service's own reason.
 */
async function probe(connection: Connection): Promise<string | undefined> {
  try {
    const { response } = await connection.client.api.GET('/v1/version', { signal: AbortSignal.timeout(5000), parseAs: 'stream' });
    await response.body?.cancel();
    return undefined;
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ?? cause?.message ?? (error as Error).message;
  }
}

function parseHost(host: string, token: string | undefined): Endpoint {
  if (host.startsWith('/') || host.startsWith('unix:')) {
    return { kind: 'socket', socketPath: host.replace(/^unix:(\/\/)?/, ''), token };
  }
  let url: URL;
  try {
    url = new URL(host);
  } catch {
    throw new CliFailure('E_INVALIDARG', `LXSS_HOST is not a URL: ${host} (say http://127.0.0.1:7071, or a socket path)`);
  }
  if (url.protocol !== 'http:') throw new CliFailure('E_INVALIDARG', `LXSS_HOST must be an http:// URL, not ${host}`);
  if (token === undefined) {
    throw new CliFailure('LXSSD_E_NO_TOKEN', `LXSS_HOST is set (${host}) but there is no token: set LXSS_TOKEN or run \`lxss token save\``);
  }
  return { kind: 'tcp', url: url.origin, token };
}

export async function findServer(env: NodeJS.ProcessEnv): Promise<Connection> {
  const saved = await readSavedToken(savedTokenPath(env));
  const token = env.LXSS_TOKEN || undefined;
  if (env.LXSS_HOST) {
    const endpoint = parseHost(env.LXSS_HOST, token ?? saved?.token);
    const connection = connectTo(endpoint);
    const why = await probe(connection);
    if (why === undefined) return connection;
    await connection.client.close();
    throw new CliFailure('LXSSD_E_NOT_RUNNING', `no lxssd answers at LXSS_HOST ${env.LXSS_HOST} (${why})`);
  }
  const candidates: Endpoint[] = [];
  if (env.LXSS_SOCKET) candidates.push({ kind: 'socket', socketPath: env.LXSS_SOCKET, token });
  else {
    candidates.push({ kind: 'socket', socketPath: ROOT_SOCKET, token });
    const own = userSocketPath(env);
    if (own !== ROOT_SOCKET) candidates.push({ kind: 'socket', socketPath: own, token });
    if (saved) candidates.push({ kind: 'tcp', url: saved.url, token: saved.token });
  }
  const tried: string[] = [];
  for (const endpoint of candidates) {
    const connection = connectTo(endpoint);
    const why = await probe(connection);
    if (why === undefined) return connection;
    await connection.client.close();
    tried.push(`${describeEndpoint(endpoint)} (${why})`);
  }
  if (!env.LXSS_SOCKET && !saved) tried.push('no saved token (`lxss token save`)');
  throw new CliFailure('LXSSD_E_NOT_RUNNING', `no lxssd answers; tried ${tried.join(', ')}. Start it with \`lxssd serve\``);
}
