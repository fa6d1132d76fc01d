// WebSocket subprotocols: each endpoint names the ones it speaks, and the upgrade answers with the first of
// those the client offered. An offer of none of them is refused with 400 before the upgrade, rather than
// echoed back and then spoken as something else. The token-carrying `lxss.token.*` is never chosen.

import type { FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { LxssError } from '../core/errors.js';
import { TOKEN_SUBPROTOCOL_PREFIX } from './plugins/authenticate.js';

const chosen = new WeakMap<IncomingMessage, string>();

function offeredProtocols(request: FastifyRequest): string[] {
  return (request.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((protocol) => protocol.trim())
    .filter((protocol) => protocol !== '' && !protocol.startsWith(TOKEN_SUBPROTOCOL_PREFIX));
}

/**
 * Called before the upgrade: remembers the subprotocol to answer with, or throws when the client offered some
 * and none is in `spoken`. With no offer the endpoint speaks its first (default) protocol and names none.
 */
export function pickSubprotocol(request: FastifyRequest, spoken: readonly string[]): void {
  const offered = offeredProtocols(request);
  if (offered.length === 0) return;
  const pick = offered.find((protocol) => spoken.includes(protocol));
  if (pick === undefined) {
    throw new LxssError('E_INVALIDARG', `this endpoint speaks ${spoken.join(' or ')}; the client offered ${offered.join(', ')}`);
  }
  chosen.set(request.raw, pick);
}

/** The ws server's handleProtocols: the pick made for this request, if any. */
export function chooseSubprotocol(_offered: Set<string>, request: IncomingMessage): string | false {
  return chosen.get(request) ?? false;
}
