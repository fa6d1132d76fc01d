// The success response of a WebSocket route: 101 Switching Protocols, documented with the subprotocols it speaks.

import type { TSchema } from '@sinclair/typebox';

/** `101` for a route whose only success is the WebSocket upgrade. */
export function switchingProtocols(description: string): Record<number, TSchema> {
  return { 101: { description: `Switching Protocols: ${description}` } as unknown as TSchema };
}
