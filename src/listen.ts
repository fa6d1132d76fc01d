// Puts a built server on the air: loopback TCP and the local socket, both with the same routes.

import type { AddressInfo } from 'node:net';
import type { Config } from './config.js';
import { isLoopbackAddress } from './config.js';
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
  const { port } = app.server.address() as AddressInfo;
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  return { url: `http://${host}:${port}`, port, socketPath: config.socketPath };
}
