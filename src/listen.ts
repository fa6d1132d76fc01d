// Puts a built server on the air: loopback TCP and the local socket, both with the same routes.

import type { AddressInfo } from 'node:net';
import type { Config } from './config.js';
import { isLoopbackAddress } from './config.js';
import { surviveServerErrors } from './connection-guard.js';
import type { LxssServer } from './server.js';

export interface Listening {
  /** e.g. `http://127.0.0.1:7071` */
  readonly url: string;
  readonly port: number;
  readonly socketPath: string;
}

export async function startListening(app: LxssServer, config: Config): Promise<Listening> {
  // Checked again here so no caller can bypass the rule by building a Config by hand.
  if (!isLoopbackAddress(config.listen.host)) {
    throw new Error(`refusing to listen on ${config.listen.host}: loopback only`);
  }
  await app.listen({ host: config.listen.host, port: config.listen.port });
  await app.localSocket.listen(config.socketPath);
  // Only now: while listening starts, an error (the port in use) is the start's failure, not one to survive.
  for (const server of [app.server, app.localSocket.server]) {
    surviveServerErrors(server, (message, detail) => app.log.warn(detail, message), () => app.connections.relieve());
  }
  const { port } = app.server.address() as AddressInfo;
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  return { url: `http://${host}:${port}`, port, socketPath: config.socketPath };
}
