// The service log's options: what a request line holds, and the secrets that never reach it — `token`,
// `ticket` and `code` query values, the Authorization header and `lxss.token.*` WebSocket subprotocols.
// A request is one line when it completes: at info when it was refused (4xx) or failed, at debug when it
// succeeded (its arrival is a second line at debug). A line per successful request, written to a pipe and
// read by a log collector, cost the API a third of its rate.

import { type FastifyReply, type FastifyRequest, type FastifyServerOptions, LogController } from 'fastify';

const REDACTED = '[redacted]';
/** Query parameters whose values are secrets (a token pasted into a URL, a one-time ticket, a login code). */
const SECRET_QUERY_KEYS = new Set(['token', 'ticket', 'code', 'access_token']);

function decodedKey(raw: string): string {
  try {
    return decodeURIComponent(raw.replaceAll('+', ' ')).trim().toLowerCase();
  } catch {
    return raw.toLowerCase();
  }
}

/** The URL with every secret query value replaced, whatever the key's case or percent-encoding. */
export function redactUrl(url: string): string {
  const mark = url.indexOf('?');
  if (mark < 0) return url;
  const query = url
    .slice(mark + 1)
    .split('&')
    .map((pair) => {
      const equals = pair.indexOf('=');
      const key = equals < 0 ? pair : pair.slice(0, equals);
      return equals >= 0 && SECRET_QUERY_KEYS.has(decodedKey(key)) ? `${key}=${REDACTED}` : pair;
    });
  return `${url.slice(0, mark)}?${query.join('&')}`;
}

/** `Bearer abc` → `Bearer [redacted]`: the scheme helps an operator, the credential never. */
function redactAuthorization(value: string): string {
  const scheme = /^\s*(\S+)\s+\S/.exec(value)?.[1];
  return scheme ? `${scheme} ${REDACTED}` : REDACTED;
}

/** `lxss.events.v1, lxss.token.abc` → `lxss.events.v1, lxss.token.[redacted]`. */
function redactSubprotocols(value: string): string {
  return value.replace(/(lxss\.token\.)[^\s,]*/gi, `$1${REDACTED}`);
}

function censor(value: unknown, path: string[]): unknown {
  const key = path[path.length - 1]?.toLowerCase();
  if (Array.isArray(value)) return value.map((item) => censor(item, path));
  if (typeof value !== 'string') return value === undefined ? undefined : REDACTED;
  switch (key) {
    case 'url':
    case 'path':
      return redactUrl(value);
    case 'authorization':
    case 'proxy-authorization':
      return redactAuthorization(value);
    case 'sec-websocket-protocol':
      return redactSubprotocols(value);
    default:
      return REDACTED;
  }
}

const SECRET_HEADERS = ['authorization', 'proxy-authorization', 'sec-websocket-protocol', 'cookie'];
const HEADER_PATHS = SECRET_HEADERS.map((header) => (header.includes('-') ? `["${header}"]` : `.${header}`));
/**
 * Wherever a request is logged outside the `req` serializer (which redacts its own line, the one every request
 * has, without the cost of a redaction pass): a raw request logged by a library, or bare headers.
 */
const REDACT_PATHS = ['url', 'path', ...HEADER_PATHS.map((header) => `headers${header}`)];

/** The headers with each secret one censored as the redaction paths would. */
function redactedHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...headers };
  for (const header of SECRET_HEADERS) {
    if (copy[header] !== undefined) copy[header] = censor(copy[header], [header]);
  }
  return copy;
}

/**
 * Fastify's request lines: the arrival at debug only; the completion carries what the arrival did — at error
 * when the request failed, at info when it was refused (a bad token, a bad body: what an operator looks for),
 * at debug when it succeeded.
 */
class RequestLines extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) reply.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else if (reply.statusCode >= 400) reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
    else reply.log.debug({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

/** Fastify's request log lines (see RequestLines). */
export function requestLogController(): LogController {
  return new RequestLines();
}

/** Fastify's logger options; at debug and trace a request's headers are logged too (secrets redacted). */
export function loggerOptions(level: string): NonNullable<FastifyServerOptions['logger']> {
  const withHeaders = level === 'debug' || level === 'trace';
  return {
    level,
    redact: { paths: REDACT_PATHS, censor },
    serializers: {
      req(request: FastifyRequest) {
        return {
          method: request.method,
          url: typeof request.url === 'string' ? redactUrl(request.url) : request.url,
          host: request.host,
          remoteAddress: request.ip,
          remotePort: request.socket?.remotePort,
          ...(withHeaders && request.headers ? { headers: redactedHeaders(request.headers) } : {}),
        };
      },
    },
  };
}
