// Headers every response carries: no page of ours may be framed (clickjacking), nothing is sniffed into
// another type, and API answers allow no active content at all. Swagger UI (/docs) and the dashboard (/) get
// policies they run under.

import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/** For JSON, problem documents and the rest: nothing may load, nothing may frame it. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/**
 * For Swagger UI: its scripts are files of ours (no inline script), it fetches its document and "Try it out"
 * calls from its own origin, its icons are data: images; it sets inline styles, so styles need 'unsafe-inline'
 * (test/browser/docs-csp checks it in Chromium).
 */
export const DOCS_CSP =
  "default-src 'self'; script-src 'self'; script-src-attr 'none'; style-src 'self' 'unsafe-inline'; " +
  "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; " +
  "form-action 'self'; frame-ancestors 'none'";

/**
 * For the dashboard (`/` and its files): its script and styles are files of ours; xterm.js adds <style>
 * elements for its themes, so styles need 'unsafe-inline' (scripts never do); it talks only to this origin
 * (fetch and WebSockets: 'self' covers ws: on the same host and port).
 */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; " +
  "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The dashboard's paths: `/` and the files beside it (`/app.js`, ...), never the API's or the docs'. */
function isDashboard(url: string): boolean {
  const path = url.split('?')[0] ?? '';
  return path === '/' || /^\/[a-z]+(\.[a-z]+)+$/i.test(path) && !path.startsWith('/openapi') && !path.startsWith('/asyncapi');
}

function policyFor(url: string): string {
  if (url.startsWith('/v1/')) return API_CSP;
  const docs = url === '/docs' || url.startsWith('/docs/') || url.startsWith('/docs?');
  return docs ? DOCS_CSP : isDashboard(url) ? DASHBOARD_CSP : API_CSP;
}

async function securityHeaders(app: FastifyInstance): Promise<void> {
  // A callback hook: every response runs it, and an async one costs each a promise.
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-frame-options', 'DENY');
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('content-security-policy', policyFor(request.url));
    done(null, payload);
  });
}

export default fp(securityHeaders, { name: 'lxssd-security-headers' });
