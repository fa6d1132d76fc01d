// The one place errors become responses: every error, ours, Fastify's or Node's, leaves as
// application/problem+json with a stable code; 5xx internals are logged, never shown. Errors Node answers
// before Fastify sees a request (a malformed request line, headers too large, a bad WebSocket handshake) are
// written on the raw socket here too, never as Node's bare text.

import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { type IncomingMessage, type Server, STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ERROR_TABLE, type ErrorCode, LxssError, outOfResources } from '../../core/errors.js';
import '../fastify-types.js';

/** The problem document (RFC 9457) for a code; `extra` members must be safe to show. */
export function problemDocument(code: ErrorCode, detail: string, extra: Record<string, unknown> = {}) {
  const { status, title } = ERROR_TABLE[code];
  return { type: `urn:lxssd:problem:${code}`, title, status, detail, code, ...extra };
}

function problem(reply: FastifyReply, code: ErrorCode, detail: string, extra: Record<string, unknown> = {}) {
  const { status } = ERROR_TABLE[code];
  if (typeof extra.retryAfter === 'number') reply.header('retry-after', String(extra.retryAfter));
  if (status === 401) reply.header('www-authenticate', 'Bearer realm="lxssd"');
  return reply.code(status).type('application/problem+json').send(problemDocument(code, detail, extra));
}

/**
 * Fastify's own request-time errors (node_modules/fastify/lib/errors.js), each family mapped to one of our
 * codes. The rest of that file are programming errors (bad options, duplicate routes, …): thrown at start,
 * or a 500 E_UNEXPECTED if one ever escaped at request time.
 */
const FASTIFY_ERRORS: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_NOT_FOUND: 'ERROR_NOT_FOUND',
  FST_ERR_VALIDATION: 'E_INVALIDARG',
  FST_ERR_BAD_URL: 'LXSSD_E_BAD_URL',
  FST_ERR_INVALID_URL: 'LXSSD_E_BAD_URL',
  FST_ERR_MAX_PARAM_LENGTH: 'LXSSD_E_URI_TOO_LONG',
  FST_ERR_CTP_BODY_TOO_LARGE: 'LXSSD_E_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'LXSSD_E_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'LXSSD_E_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'LXSSD_E_MALFORMED_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'LXSSD_E_MALFORMED_JSON',
  FST_ERR_ROUTE_MISSING_CONTENT_TYPE: 'LXSSD_E_BAD_REQUEST',
  FST_ERR_HANDLER_TIMEOUT: 'LXSSD_E_HANDLER_TIMEOUT',
};

type ValidationIssue = NonNullable<FastifyError['validation']>[number];

/**
 * One line per field: a union's branches each report their own failure and then the union fails too, which
 * reads as noise ("must be equal to constant" thrice); they become one "must be one of: a, b, c" or "must be X
 * or Y".
 */
function mergeUnionIssues(issues: ValidationIssue[]): ValidationIssue[] {
  const unions = issues.filter((issue) => issue.keyword === 'anyOf' || issue.keyword === 'oneOf');
  if (unions.length === 0) return issues;
  const branchOf = (issue: ValidationIssue, union: ValidationIssue) =>
    issue !== union && issue.schemaPath.startsWith(`${union.schemaPath}/`);
  const merged: ValidationIssue[] = [];
  for (const issue of issues) {
    if (unions.some((union) => branchOf(issue, union))) continue;
    if (!unions.includes(issue)) {
      merged.push(issue);
      continue;
    }
    const branches = issues.filter((other) => branchOf(other, issue));
    const allowed = branches.map((branch) => (branch.params as { allowedValue?: unknown }).allowedValue);
    const message = branches.every((branch) => branch.keyword === 'const')
      ? `must be one of: ${allowed.map((value) => String(value)).join(', ')}`
      : [...new Set(branches.map((branch) => branch.message))].join(' or ');
    merged.push({ ...issue, message: message || issue.message });
  }
  return merged;
}

function validationProblem(error: FastifyError, reply: FastifyReply) {
  const errors = mergeUnionIssues(error.validation ?? []).map((issue) => {
    const where = error.validationContext ?? 'request';
    const missing = (issue.params as { missingProperty?: string }).missingProperty;
    const extra = (issue.params as { additionalProperty?: string }).additionalProperty;
    const path = issue.instancePath.replace(/^\//, '').replaceAll('/', '.');
    const field = [where, path, missing ?? extra].filter(Boolean).join('.');
    const allowed = issue.keyword === 'enum' ? (issue.params as { allowedValues?: unknown[] }).allowedValues : undefined;
    // A string enum reads as the union of constants it replaced did: "must be one of: a, b, c".
    const message = extra
      ? `is not a known field`
      : allowed
        ? `must be one of: ${allowed.map((value) => String(value)).join(', ')}`
        : (issue.message ?? 'is invalid');
    return { field, message };
  });
  const detail = errors.map((e) => `${e.field} ${e.message}`).join('; ') || error.message;
  return problem(reply, 'E_INVALIDARG', detail, { errors });
}

/** Names the type that was sent and the ones the route takes (a body schema keyed by media type, else JSON). */
function unsupportedMediaDetail(request: FastifyRequest): string {
  const sent = request.headers['content-type'] ?? 'none';
  const body = request.routeOptions.schema?.body as { content?: Record<string, unknown> } | undefined;
  const accepted = body?.content ? Object.keys(body.content) : ['application/json'];
  return `a body of type ${sent} is not accepted here; send ${accepted.join(' or ')}`;
}

function toProblem(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const exhausted = outOfResources(error);
  if (exhausted) {
    request.log.warn({ err: error }, 'out of resources');
    return problem(reply, exhausted.code, exhausted.detail, { retryAfter: 1, ...exhausted.extra });
  }
  if (error instanceof LxssError) {
    if (error.status >= 500) request.log.error({ err: error }, 'request failed');
    // A 500 is a failure of ours whose detail may hold internals; 503 and 507 details are written for the caller.
    return problem(reply, error.code, error.status === 500 ? 'internal error; see the service log' : error.detail, error.extra);
  }
  if (error.validation) return validationProblem(error, reply);
  const mapped = error.code === undefined ? undefined : FASTIFY_ERRORS[error.code];
  const code: ErrorCode | undefined =
    mapped ??
    (error.statusCode === 413
      ? 'LXSSD_E_PAYLOAD_TOO_LARGE'
      : error.statusCode === 415
        ? 'LXSSD_E_UNSUPPORTED_MEDIA_TYPE'
        : error.statusCode === 503
          ? 'LXSSD_E_SHUTTING_DOWN'
          : error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500
            ? 'E_INVALIDARG'
            : undefined);
  if (code === 'LXSSD_E_UNSUPPORTED_MEDIA_TYPE') return problem(reply, code, unsupportedMediaDetail(request));
  if (code !== undefined) return problem(reply, code, error.message);
  request.log.error({ err: error }, 'request failed');
  return problem(reply, 'E_UNEXPECTED', `internal error; see the service log (request ${request.id})`);
}

/** Fastify's `frameworkErrors` option: errors its router meets before any route (a bad URL encoding, …). */
export function frameworkProblem(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return toProblem(error, request, reply);
}

/** A complete HTTP/1.1 response carrying a problem document, for a socket no Fastify reply owns. */
export function rawProblemResponse(code: ErrorCode, detail: string, headers: Record<string, string> = {}): string {
  const { status } = ERROR_TABLE[code];
  const body = JSON.stringify(problemDocument(code, detail));
  return [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Content-Type: application/problem+json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    '',
    body,
  ].join('\r\n');
}

const answered = new WeakSet<Duplex>();

/** Writes a refusal on a socket whose request can go no further, then closes it (at the latest after 2 s). */
export function refuseOnSocket(socket: Duplex, code: ErrorCode, detail: string, headers: Record<string, string> = {}): void {
  if (answered.has(socket)) return;
  answered.add(socket);
  // A response already under way on this connection cannot be followed by another one.
  const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (!socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  socket.end(rawProblemResponse(code, detail, headers));
  // end() lets the client read the answer before the close; a client that never closes is cut.
  setTimeout(() => socket.destroy(), 2000).unref();
}

type ClientError = Error & { code?: string };

function clientErrorProblem(error: ClientError): [ErrorCode, string] {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return ['LXSSD_E_HEADERS_TOO_LARGE', 'the request line and headers exceed the size the server reads (16 KiB)'];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return ['LXSSD_E_REQUEST_TIMEOUT', 'the request was not received in time'];
    default:
      return ['LXSSD_E_BAD_REQUEST', `the request is not valid HTTP/1.1 (${error.code ?? 'unparsable'})`];
  }
}

/**
 * Node's `clientError` (and Fastify's `clientErrorHandler`): a request the HTTP parser refused. The error is
 * never logged whole: its `rawPacket` holds the request's bytes, an Authorization header included.
 */
export function answerClientError(log: FastifyBaseLogger, error: ClientError, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [code, detail] = clientErrorProblem(error);
  log.debug({ parserError: error.code, code }, 'refused a malformed request');
  refuseOnSocket(socket, code, detail);
}

/** `Expect:` values other than 100-continue, which Node would answer with a bare 417. */
function expectationFailed(request: IncomingMessage, response: ServerResponse): void {
  const body = JSON.stringify(
    problemDocument('LXSSD_E_EXPECTATION_FAILED', `Expect: ${request.headers.expect ?? ''} is not supported; only 100-continue is`),
  );
  response.writeHead(417, { 'content-type': 'application/problem+json', 'content-length': Buffer.byteLength(body), connection: 'close' });
  response.end(body);
}

/**
 * Makes a Node HTTP server answer what it would answer itself in problem+json: parser errors, unsupported
 * expectations, and (as the Host guard does that with a reason) no bare 400 for a missing Host.
 */
export function answerNodeErrors(server: Server, log: FastifyBaseLogger, options: { fastifyOwnsClientError?: boolean } = {}): void {
  if (!options.fastifyOwnsClientError) server.on('clientError', (error: ClientError, socket: Duplex) => answerClientError(log, error, socket));
  server.on('checkExpectation', expectationFailed);
  (server as { requireHostHeader?: boolean }).requireHostHeader = false;
}

/** The ws server's `wsClientError`: an upgrade ws refused (no or a bad Sec-WebSocket-Key, a bad version, …). */
export function handshakeErrorHandler(error: Error, socket: Duplex): void {
  const headers: Record<string, string> = /Sec-WebSocket-Version/i.test(error.message) ? { 'Sec-WebSocket-Version': '13, 8' } : {};
  refuseOnSocket(socket, 'LXSSD_E_BAD_HANDSHAKE', error.message, headers);
}

/** The most of an unread body read (and discarded) before an error is answered, and how long that may take. */
export const DRAIN_MAX_BYTES = 64 * 1024 * 1024;
export const DRAIN_MAX_MS = 5000;

/**
 * Refusals answered without reading the body, the cheap ones: a stalled body (408), an address past its
 * authentication failures (429), a connection refused or a service closing (503).
 */
const UNDRAINED_STATUSES = new Set([408, 429, 503]);

/** Whether the request still has body bytes on the wire that nobody has read. */
function unreadBody(request: FastifyRequest): boolean {
  const raw = request.raw;
  if (raw.complete || raw.readableEnded || raw.destroyed || (raw as { upgrade?: boolean }).upgrade) return false;
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Reads and discards the rest of a body, at most `maxBytes` and `maxMs`; true when it ended within them.
 * A client that is still sending when its connection closes gets EPIPE or a reset and never reads the answer
 * (Node's fetch fails with "fetch failed"), so an error is answered only once the body is in or the bound is hit.
 */
function drainBody(raw: IncomingMessage, maxBytes: number, maxMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let bytes = 0;
    const finish = (complete: boolean) => {
      clearTimeout(timer);
      raw.off('data', onData);
      raw.off('end', onEnd);
      raw.off('close', onClose);
      raw.off('error', onClose);
      resolve(complete);
    };
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > maxBytes) finish(false);
    };
    const onEnd = () => finish(true);
    const onClose = () => finish(raw.complete);
    const timer = setTimeout(() => finish(false), maxMs);
    raw.on('data', onData);
    raw.once('end', onEnd);
    raw.once('close', onClose);
    raw.once('error', onClose);
    raw.resume();
  });
}

/**
 * Before an error goes out on a request whose body is still arriving (a 415 or 413 refused before reading it, an
 * import that failed part way): the rest of the body is read and dropped, up to DRAIN_MAX_BYTES within
 * DRAIN_MAX_MS, so the client, done sending, reads the problem document. A body that is longer (a declared
 * length past the bound is not read at all) gets the answer and a closed connection.
 */
function needsDrain(request: FastifyRequest, reply: FastifyReply): boolean {
  return reply.statusCode >= 400 && !UNDRAINED_STATUSES.has(reply.statusCode) && unreadBody(request);
}

async function drainBeforeError(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const declared = Number(request.headers['content-length']);
  const complete =
    !(declared > DRAIN_MAX_BYTES) && (await drainBody(request.raw, DRAIN_MAX_BYTES, DRAIN_MAX_MS));
  // Whatever is left is not read: Node would otherwise read it all to keep the connection.
  if (!complete) reply.header('connection', 'close');
}

type RouteHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

function addRouteHook(route: RouteOptions, name: 'onRequest', hook: RouteHook): void {
  const existing = route[name];
  route[name] = [...(existing === undefined ? [] : Array.isArray(existing) ? existing : [existing]), hook] as never;
}

/** Turns a route URL (`/v1/processes/:id/stdio`) into a matcher of request paths. */
function pathMatcher(url: string): RegExp {
  const segments = url.split('/').map((segment) => {
    if (segment.startsWith(':')) return '[^/]+';
    if (segment === '*') return '.*';
    return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  });
  return new RegExp(`^${segments.join('/')}$`);
}

async function problemDetails(app: FastifyInstance): Promise<void> {
  app.setErrorHandler(toProblem);

  // Every route's methods, to tell a wrong method (405, with Allow) from a path that does not exist (404).
  const routes: Array<{ matcher: RegExp; methods: string[] }> = [];
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    routes.push({ matcher: pathMatcher(route.url), methods });

    // WebSocket routes are marked so an upgrade to any other route is refused before ws answers 101.
    if (route.wsHandler !== undefined || (route as { websocket?: boolean }).websocket) {
      route.config = { ...route.config, websocket: true };
    }

    // A route whose body schema is keyed by media type takes those types only; refused before the body is read
    // (a JSON parser would otherwise read a tar sent as application/json and answer 400 or 413).
    const body = route.schema?.body as { content?: Record<string, unknown> } | undefined;
    if (body?.content) {
      const accepted = Object.keys(body.content);
      addRouteHook(route, 'onRequest', async (request, reply) => {
        const sent = request.headers['content-type'];
        const type = (sent ?? '').split(';')[0]!.trim().toLowerCase();
        if (accepted.includes(type)) return;
        if (!request.raw.readableEnded) reply.header('connection', 'close');
        throw new LxssError(
          'LXSSD_E_UNSUPPORTED_MEDIA_TYPE',
          `a body of type ${sent ?? 'none'} is not accepted here; send ${accepted.join(' or ')}`,
        );
      });
    }
  });

  // The hooks every request runs are callback hooks: an async one costs each request a promise and a turn of
  // the microtask queue, which showed in the API's rate.
  const isUpgrade = (request: FastifyRequest) => (request.raw as { upgrade?: boolean }).upgrade === true;
  // Fastify's own 503 while closing is plain JSON; this one is a problem document.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', (request, reply, done) => {
    if (closing) {
      reply.header('connection', 'close');
      return done(new LxssError('LXSSD_E_SHUTTING_DOWN', 'lxssd is shutting down; try again when it is back'));
    }
    if (isUpgrade(request) && !request.is404 && !request.routeOptions.config.websocket) {
      reply.header('connection', 'close');
      return done(
        new LxssError(
          'LXSSD_E_NOT_A_WEBSOCKET',
          `${request.url.split('?')[0]} is not a WebSocket endpoint; send a plain HTTP request without Upgrade`,
        ),
      );
    }
    done();
  });

  // An upgrade answered with an HTTP response (any refusal) leaves a socket Node's HTTP server no longer
  // manages: close it once the answer is out.
  app.addHook('onResponse', (request, _reply, done) => {
    if (isUpgrade(request)) {
      const socket = request.raw.socket;
      socket.end();
      setTimeout(() => socket.destroy(), 2000).unref();
    }
    done();
  });

  app.addHook('onSend', (request, reply, payload, done) => {
    if (!needsDrain(request, reply)) return done(null, payload);
    drainBeforeError(request, reply).then(() => done(null, payload), done);
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    const allowed = [...new Set(routes.filter((route) => route.matcher.test(path)).flatMap((route) => route.methods))];
    if (allowed.length > 0) {
      reply.header('allow', allowed.join(', '));
      return problem(reply, 'LXSSD_E_METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path}; it takes ${allowed.join(', ')}`);
    }
    return problem(reply, 'ERROR_NOT_FOUND', `no route ${request.method} ${path}`);
  });
}

export default fp(problemDetails, { name: 'lxssd-problem-details' });
