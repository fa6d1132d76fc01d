// The success response of a WebSocket route: 101 Switching Protocols, documented with the subprotocols it speaks.

import type { TSchema } from '@sinclair/typebox';

/** `101` for a route whose only success is the WebSocket upgrade. */
export function switchingProtocols(description: string): Record<number, TSchema> {
  return { 101: { description: `Switching Protocols: ${description}` } as unknown as TSchema };
}

/** Where the AsyncAPI document (openapi/asyncapi.yaml, describing every WebSocket's frames) is served. */
export const ASYNCAPI_DOCUMENT = '/asyncapi.yaml';

/**
 * The route-schema members that point a WebSocket route's operation at its AsyncAPI channels: `x-asyncapi`
 * maps each subprotocol it speaks to its channel (`/asyncapi.yaml#/channels/<name>`), and `externalDocs`
 * links the document for readers and UIs.
 */
export function asyncapiChannels(channels: Record<string, string>): { 'x-asyncapi': Record<string, string>; externalDocs: { description: string; url: string } } {
  return {
    'x-asyncapi': Object.fromEntries(Object.entries(channels).map(([protocol, name]) => [protocol, `${ASYNCAPI_DOCUMENT}#/channels/${name}`])),
    externalDocs: { description: `The frames of each subprotocol: the AsyncAPI 3 document (${Object.values(channels).map((name) => `channels/${name}`).join(', ')})`, url: ASYNCAPI_DOCUMENT },
  };
}
