// The browser dashboard (web/, bundled into dist/web by scripts/build-web.mjs) at `/`: a few static files read
// once at start, each with a strong ETag (If-None-Match → 304) and, for browsers that take it, gzip made once.
// The page's policy (DASHBOARD_CSP) allows nothing from outside our origin; the API refuses other origins.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { notModified, strongEtag } from './static-etag.js';

/** From dist/src/routes/plugins/ (where this runs) to dist/web. */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../../web/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

interface Asset {
  body: Buffer;
  gzipped: Buffer;
  type: string;
  etag: string;
}

function load(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(dir)) return assets;
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (!type) continue;
    const body = readFileSync(join(dir, name));
    assets.set(name === 'index.html' ? '/' : `/${name}`, { body, gzipped: gzipSync(body, { level: 9 }), type, etag: strongEtag(body) });
  }
  return assets;
}

function send(asset: Asset, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  // Revalidated on every load (a 304 costs a round trip, no bytes): an upgrade of lxssd never leaves an old page.
  reply.header('etag', asset.etag).header('cache-control', 'no-cache').header('vary', 'accept-encoding');
  if (notModified(request, asset.etag)) return reply.code(304).send();
  reply.type(asset.type);
  if (/\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))) {
    return reply.header('content-encoding', 'gzip').send(asset.gzipped);
  }
  return reply.send(asset.body);
}

async function dashboard(app: FastifyInstance, options: { dir?: string }): Promise<void> {
  const assets = load(options.dir ?? DASHBOARD_DIR);
  if (assets.size === 0) {
    app.log.warn({ dir: options.dir ?? DASHBOARD_DIR }, 'the dashboard is not built (npm run build): / answers 404');
    return;
  }
  for (const [path, asset] of assets) {
    app.get(path, { schema: { hide: true } }, async (request, reply) => send(asset, request, reply));
  }
}

export default fp(dashboard, { name: 'lxssd-dashboard' });
