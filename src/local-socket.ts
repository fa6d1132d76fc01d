// The local (Unix) socket listener: the same routes as TCP, with each connection's caller proven by the
// kernel (SO_PEERCRED) when it is accepted. Mode 0666 on purpose: the peer identity is the guard.

import type { FastifyInstance } from 'fastify';
import { createServer, type Server, type ServerOptions } from 'node:http';
import { connect, type Socket } from 'node:net';
import { chmod, lstat, mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Hypervisor, PeerCredentials } from './hv/index.js';

/**
 * Connections the kernel queues before the service accepts them. Node's 511 makes a burst of a thousand
 * clients (a script starting a process each) fail to connect with EAGAIN; the kernel caps this at somaxconn.
 */
const LISTEN_BACKLOG = 4096;

export class LocalSocketServer {
  readonly server: Server;
  private readonly peers = new WeakMap<Socket, PeerCredentials>();
  private path: string | undefined;

  constructor(app: FastifyInstance, hv: Hypervisor, options: ServerOptions = {}) {
    this.server = createServer(options, (request, response) => app.routing(request, response));
    this.server.on('connection', (socket: Socket) => {
      try {
        this.peers.set(socket, hv.localPeer(socket));
      } catch (error) {
        app.log.warn({ err: error }, 'dropping a local connection whose peer could not be identified');
        socket.destroy();
      }
    });
    // WebSocket upgrades go through the same Fastify routing as TCP ones (@fastify/websocket listens there).
    this.server.on('upgrade', (request, socket, head) => app.server.emit('upgrade', request, socket, head));
  }

  /** The kernel-proven caller of a connection accepted here; undefined for any other connection. */
  peerOf(socket: Socket): PeerCredentials | undefined {
    return this.peers.get(socket);
  }

  async listen(path: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    await removeStaleSocket(path);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ path, backlog: LISTEN_BACKLOG }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.path = path;
    await chmod(path, 0o666);
  }

  /** Stops accepting; requests in flight get a grace period, then every connection is cut. */
  async close(graceMs = 2000): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    // Also keeps the event loop alive: a paused connection alone would let it end with close() pending.
    const cut = setTimeout(() => this.server.closeAllConnections(), graceMs);
    await closed;
    clearTimeout(cut);
    if (this.path) await rm(this.path, { force: true });
  }
}

/** A socket file left by a killed service is removed; one a live service answers on is an error. */
async function removeStaleSocket(path: string): Promise<void> {
  const stat = await lstat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!stat) return;
  if (!stat.isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new Error(`another service is already listening on ${path}`);
  await rm(path, { force: true });
}
