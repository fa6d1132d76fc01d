// Admission of connections on both listeners: at most maxConnections in total and maxConnectionsPerPeer per
// peer (a user once known — the kernel-proven uid on the local socket, the token's SID on TCP — else the TCP
// source address), and never into the reserve of descriptors the service keeps for its own work (helpers,
// pipes, state files). At a cap, unauthenticated idle connections are closed first, then other idle ones; with
// none to close, the newcomer gets a 503 and is closed. Busy connections (a request being answered, a WebSocket)
// are never closed to make room.

import type { Server, ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import { ERROR_TABLE } from './core/errors.js';

export interface ConnectionGuardOptions {
  readonly maxConnections: number;
  readonly maxConnectionsPerPeer: number;
  /** the soft limit on open descriptors, read afresh each time (an operator may lower it while the service runs) */
  descriptorLimit(): number;
  /** how many descriptors are open (sampled: it costs a directory listing) */
  openDescriptors(): number;
  log(message: string, detail: Record<string, unknown>): void;
}

interface Tracked {
  readonly socket: Socket;
  peer: string;
  authenticated: boolean;
  /** requests being answered on it */
  busy: number;
  /** a WebSocket: long-lived by design, never idle */
  upgraded: boolean;
  lastActive: number;
}

/** Descriptors kept back from connections: max(64, 10% of the limit). */
export function descriptorReserve(limit: number): number {
  return Math.max(64, Math.ceil(limit / 10));
}

/** The peer key of a TCP connection before it has authenticated. */
export function addressPeer(socket: Socket): string {
  return `address:${socket.remoteAddress ?? 'unknown'}`;
}

/** The peer key of a user (a SID), on either listener. */
export function userPeer(sid: string): string {
  return `user:${sid}`;
}

function socketFd(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

const REFUSAL_LINGER_MS = 1000;
const SAMPLE_MS = 250;
const LOG_EVERY_MS = 10_000;

function refusalResponse(detail: string): string {
  const code = 'LXSSD_E_OUT_OF_RESOURCES';
  const { status, title } = ERROR_TABLE[code];
  const body = JSON.stringify({ type: `urn:lxssd:problem:${code}`, title, status, detail, code, retryAfter: 1 });
  return (
    `HTTP/1.1 ${status} Service Unavailable\r\ncontent-type: application/problem+json\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\nretry-after: 1\r\nconnection: close\r\n\r\n${body}`
  );
}

export class ConnectionGuard {
  private readonly tracked = new Map<Socket, Tracked>();
  private readonly perPeer = new Map<string, number>();
  private readonly refused = new WeakSet<Socket>();
  /** The last count of open descriptors, and the connections admitted (+) and closed (-) since. */
  private sample: { at: number; open: number; since: number } | undefined;
  private refusals = 0;
  private evictions = 0;
  private lastLog = 0;

  constructor(private readonly options: ConnectionGuardOptions) {}

  /** Connections held now (for tests and the log). */
  get size(): number {
    return this.tracked.size;
  }

  /** Admits or refuses every connection `server` accepts; `peerOf` names the peer (TCP: its address). */
  watch(server: Server, peerOf: (socket: Socket) => { peer: string; authenticated: boolean } | undefined): void {
    server.on('connection', (socket: Socket) => {
      if (socket.destroyed) return;
      const peer = peerOf(socket);
      if (peer) this.admit(socket, peer.peer, peer.authenticated);
    });
    // A WebSocket leaves the HTTP server's hands: from now on it is busy for as long as it lives.
    server.on('upgrade', (_request, socket: Socket) => {
      const entry = this.tracked.get(socket);
      if (entry) entry.upgraded = true;
    });
  }

  /**
   * Closes every idle connection now (at shutdown): one that never sent a byte would otherwise hold the
   * server's close open until its headers timeout.
   */
  closeIdle(): void {
    for (const entry of [...this.tracked.values()]) {
      if (entry.busy > 0 || entry.upgraded) continue;
      this.untrack(entry.socket);
      entry.socket.destroy();
    }
  }

  /** True for a connection that was refused (its requests must not be served). */
  isRefused(socket: Socket): boolean {
    return this.refused.has(socket);
  }

  /** A request started on `socket`; returns the function to call when its response has ended. */
  requestStarted(socket: Socket, upgrade: boolean): () => void {
    const entry = this.tracked.get(socket);
    if (!entry) return () => undefined;
    entry.busy += 1;
    entry.lastActive = Date.now();
    if (upgrade) entry.upgraded = true;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      entry.busy -= 1;
      entry.lastActive = Date.now();
    };
  }

  /**
   * A request on `socket` proved it is `sid`: the connection counts against that user from now on, not
   * against its address, and is no longer closed to make room. False when the user holds too many already.
   */
  authenticated(socket: Socket, sid: string): boolean {
    const entry = this.tracked.get(socket);
    if (!entry || entry.authenticated) return true;
    const peer = userPeer(sid);
    if ((this.perPeer.get(peer) ?? 0) >= this.options.maxConnectionsPerPeer && !this.evictIdle((e) => e.peer === peer)) {
      return false;
    }
    this.count(entry.peer, -1);
    entry.peer = peer;
    entry.authenticated = true;
    this.count(peer, 1);
    return true;
  }

  private admit(socket: Socket, peer: string, authenticated: boolean): void {
    const { limit, open } = this.descriptorUsage();
    const fd = socketFd(socket);
    const reserve = descriptorReserve(limit);
    // Counted, and from the newcomer's number: it took the lowest free one, so every one below it is in use.
    const intoReserve = open >= limit - reserve || (fd !== undefined && fd >= limit - reserve);
    let refusal: string | undefined;
    if ((this.perPeer.get(peer) ?? 0) >= this.options.maxConnectionsPerPeer) {
      if (!this.evictIdle((entry) => entry.peer === peer && !entry.authenticated) && !this.evictIdle((entry) => entry.peer === peer)) {
        refusal = `too many connections from you (at most ${this.options.maxConnectionsPerPeer}); close some and retry`;
      }
    } else if (intoReserve || this.tracked.size >= this.options.maxConnections) {
      // Unauthenticated idle ones first; then an idle keep-alive connection, which its client simply reopens.
      if (!this.evictIdle((entry) => !entry.authenticated) && !this.evictIdle(() => true)) {
        refusal = intoReserve
          ? 'the service is out of descriptors for connections (EMFILE is near); retry when others have closed'
          : `the service holds its maximum of ${this.options.maxConnections} connections; retry when others have closed`;
      }
    }
    if (refusal !== undefined) {
      this.refuse(socket, refusal, { peer, fd, limit });
      return;
    }
    const entry: Tracked = { socket, peer, authenticated, busy: 0, upgraded: false, lastActive: Date.now() };
    this.tracked.set(socket, entry);
    this.count(peer, 1);
    if (this.sample) this.sample.since += 1;
    socket.once('close', () => this.untrack(socket));
  }

  /** The limit, read afresh; the open count from a listing done at most every SAMPLE_MS, kept current in between. */
  private descriptorUsage(): { limit: number; open: number } {
    const now = Date.now();
    if (!this.sample || now - this.sample.at >= SAMPLE_MS) {
      this.sample = { at: now, open: this.options.openDescriptors(), since: 0 };
    }
    return { limit: this.options.descriptorLimit(), open: this.sample.open + this.sample.since };
  }

  /**
   * The listener could not accept for want of descriptors (EMFILE): the reserve is gone, so idle connections
   * (unauthenticated first) are closed until a tenth of the reserve is free again.
   */
  relieve(): void {
    this.sample = undefined;
    const limit = this.options.descriptorLimit();
    for (let closed = 0; closed < Math.ceil(descriptorReserve(limit) / 10); closed++) {
      if (!this.evictIdle((entry) => !entry.authenticated) && !this.evictIdle(() => true)) break;
    }
  }

  /** Closes the longest-idle connection `which` accepts; false when there is none. */
  private evictIdle(which: (entry: Tracked) => boolean): boolean {
    let oldest: Tracked | undefined;
    for (const entry of this.tracked.values()) {
      if (entry.busy > 0 || entry.upgraded || !which(entry)) continue;
      if (!oldest || entry.lastActive < oldest.lastActive) oldest = entry;
    }
    if (!oldest) return false;
    this.untrack(oldest.socket);
    oldest.socket.destroy();
    this.evictions += 1;
    this.report();
    return true;
  }

  private refuse(socket: Socket, detail: string, context: Record<string, unknown>): void {
    this.refused.add(socket);
    this.refusals += 1;
    this.report(context);
    socket.on('error', () => undefined);
    // Its descriptor goes as soon as the answer is handed to the kernel: a flood of refusals must not pile up.
    socket.end(refusalResponse(detail), () => socket.destroy());
    setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
  }

  private untrack(socket: Socket): void {
    const entry = this.tracked.get(socket);
    if (!entry) return;
    this.tracked.delete(socket);
    this.count(entry.peer, -1);
    if (this.sample) this.sample.since -= 1;
  }

  private count(peer: string, delta: number): void {
    const next = (this.perPeer.get(peer) ?? 0) + delta;
    if (next <= 0) this.perPeer.delete(peer);
    else this.perPeer.set(peer, next);
  }

  /** One log line per interval at most: a flood must not become a flood of log lines. */
  private report(context: Record<string, unknown> = {}): void {
    const now = Date.now();
    if (now - this.lastLog < LOG_EVERY_MS) return;
    this.lastLog = now;
    this.options.log('connections refused or closed to make room', {
      ...context,
      refused: this.refusals,
      closedIdle: this.evictions,
      connections: this.tracked.size,
    });
    this.refusals = 0;
    this.evictions = 0;
  }
}

export interface HttpTimeouts {
  readonly headersTimeout: number;
  readonly keepAliveTimeout: number;
}

/**
 * Options for both listeners' HTTP servers: a request's headers (and a new connection's first byte) within
 * headersTimeout, idle keep-alive connections closed after keepAliveTimeout, and no limit on a whole request,
 * which would cut long imports: bodies are bounded by the body-timeouts plugin instead.
 */
export function httpServerOptions(timeouts: HttpTimeouts): ServerOptions {
  return {
    headersTimeout: timeouts.headersTimeout,
    requestTimeout: 0,
    keepAliveTimeout: timeouts.keepAliveTimeout,
    // How often Node looks for connections past headersTimeout (its default, 30 s, would double a short one).
    connectionsCheckingInterval: Math.max(100, Math.min(30_000, Math.floor(timeouts.headersTimeout / 4))),
  };
}

/**
 * A listener's errors after it is up (accept failing with EMFILE, say) are logged, at most once per interval,
 * and survived; `exhausted` is called when the cause is a want of descriptors.
 */
export function surviveServerErrors(
  server: Server,
  log: (message: string, detail: Record<string, unknown>) => void,
  exhausted: () => void = () => undefined,
): void {
  let last = 0;
  let count = 0;
  server.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EMFILE' || error.code === 'ENFILE') exhausted();
    count += 1;
    const now = Date.now();
    if (now - last < LOG_EVERY_MS) return;
    last = now;
    log('a listener failed to accept a connection; it keeps listening', { code: error.code, message: error.message, count });
    count = 0;
  });
}
