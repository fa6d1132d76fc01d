// Strong ETags for the few files the server serves as they are (the AsyncAPI document, the dashboard): a digest
// of the bytes, and whether a request's If-None-Match already holds it (then the answer is a bodiless 304).

import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';

export function strongEtag(body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

export function notModified(request: FastifyRequest, etag: string): boolean {
  const match = request.headers['if-none-match'];
  return match !== undefined && match.split(',').some((tag) => tag.trim() === etag || tag.trim() === '*');
}
