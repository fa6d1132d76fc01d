// The one error table: stable code → HTTP status and title. Core code throws LxssError with a code from
// here; the problem-details plugin is the only place that turns it into a response.

import { HvError, type HvErrorKind } from '../hv/errors.js';

/** Every error code lxssd can answer with. WSL's own names where WSL has one; LXSSD_E_* where it has none. */
export const ERROR_TABLE = {
  E_INVALIDARG: { status: 400, title: 'Invalid argument' },
  LXSSD_E_BAD_REQUEST: { status: 400, title: 'Malformed HTTP request' },
  LXSSD_E_BAD_URL: { status: 400, title: 'The URL is not valid' },
  LXSSD_E_MALFORMED_JSON: { status: 400, title: 'The body is not valid JSON' },
  LXSSD_E_NOT_A_WEBSOCKET: { status: 400, title: 'This endpoint does not take a WebSocket upgrade' },
  LXSSD_E_BAD_HANDSHAKE: { status: 400, title: 'Invalid WebSocket handshake' },
  WSL_E_USER_NOT_FOUND: { status: 400, title: 'No such user in the distribution' },
  WSL_E_IMPORT_FAILED: { status: 400, title: 'The archive could not be imported' },
  ERROR_NOT_AUTHENTICATED: { status: 401, title: 'Authentication required' },
  E_ACCESSDENIED: { status: 403, title: 'Access denied' },
  LXSSD_E_HOST_NOT_ALLOWED: { status: 403, title: 'Host header is not a loopback authority of this server' },
  LXSSD_E_ORIGIN_NOT_ALLOWED: { status: 403, title: 'Origin is not this server' },
  ERROR_NOT_FOUND: { status: 404, title: 'Not found' },
  WSL_E_DISTRO_NOT_FOUND: { status: 404, title: 'There is no distribution with the supplied name' },
  WSL_E_DEFAULT_DISTRO_NOT_FOUND: { status: 404, title: 'There is no default distribution' },
  LXSSD_E_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  LXSSD_E_REQUEST_TIMEOUT: { status: 408, title: 'The request was not received in time' },
  ERROR_ALREADY_EXISTS: { status: 409, title: 'It already exists' },
  ERROR_FILE_EXISTS: { status: 409, title: 'The location is already in use' },
  E_ILLEGAL_STATE_CHANGE: { status: 409, title: 'Not possible in the current state' },
  LXSSD_E_NOT_RUNNING: { status: 404, title: 'The distribution is not running' },
  WSL_E_DISTRO_NOT_STOPPED: { status: 409, title: 'The distribution must be stopped first' },
  LXSSD_E_DISTRO_FILES_MISSING: { status: 409, title: "The distribution's files are missing" },
  LXSSD_E_NOT_A_TERMINAL: { status: 409, title: 'The process has no terminal' },
  LXSSD_E_PROCESS_LIMIT: { status: 409, title: 'Too many running processes' },
  LXSSD_E_TOO_MANY_TOKENS: { status: 409, title: 'Too many tokens' },
  LXSSD_E_TOO_MANY_STREAMS: { status: 409, title: 'Too many open streams' },
  LXSSD_E_TOO_MANY_TICKETS: { status: 409, title: 'Too many unused tickets' },
  LXSSD_E_ID_RANGE_CONFLICT: { status: 409, title: "The user's ids overlap another account's" },
  LXSSD_E_PAYLOAD_TOO_LARGE: { status: 413, title: 'Request body too large' },
  LXSSD_E_URI_TOO_LONG: { status: 414, title: 'A path segment is too long' },
  LXSSD_E_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  LXSSD_E_EXPECTATION_FAILED: { status: 417, title: 'Expectation failed' },
  LXSSD_E_UPGRADE_REQUIRED: { status: 426, title: 'Connect with a WebSocket' },
  LXSSD_E_TOO_MANY_AUTH_FAILURES: { status: 429, title: 'Too many failed authentication attempts' },
  LXSSD_E_HEADERS_TOO_LARGE: { status: 431, title: 'Request headers too large' },
  E_UNEXPECTED: { status: 500, title: 'Internal error' },
  LXSSD_E_NOT_SUPPORTED: { status: 501, title: 'Not supported by this host' },
  WSL_E_EXPORT_FAILED: { status: 500, title: 'The distribution could not be exported' },
  ERROR_DISK_FULL: { status: 507, title: 'There is not enough space on the disk' },
  LXSSD_E_SHUTTING_DOWN: { status: 503, title: 'The service is shutting down' },
  LXSSD_E_HANDLER_TIMEOUT: { status: 503, title: 'The service did not answer in time' },
  LXSSD_E_OUT_OF_RESOURCES: { status: 503, title: 'The service is out of resources' },
  LXSSD_E_TIMEOUT: { status: 504, title: 'The distribution did not answer in time' },
  LXSSD_E_STATE_FILE_DAMAGED: { status: 503, title: 'A state file is damaged' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_TABLE;

/** A failure with a stable code; `detail` is shown to the caller, so it must never carry secrets. */
export class LxssError extends Error {
  readonly code: ErrorCode;
  readonly detail: string;
  /** Extra members for the problem document (e.g. a retry delay), all safe to show. */
  readonly extra: Record<string, unknown>;

  constructor(code: ErrorCode, detail: string, extra: Record<string, unknown> = {}) {
    super(`${code}: ${detail}`);
    this.name = 'LxssError';
    this.code = code;
    this.detail = detail;
    this.extra = extra;
  }

  get status(): number {
    return ERROR_TABLE[this.code].status;
  }
}

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_TABLE, code);
}

/**
 * How each hypervisor failure reads to the caller: the one mapping from HvError kinds to codes. Kinds without
 * an entry (`failed`, `launch-failed`, ...) are the caller's to handle or stay internal errors; `hint` says what
 * the caller can do, `detail` replaces a message written for the log.
 */
const HV_ERRORS: Partial<Record<HvErrorKind, { code: ErrorCode; hint?: string; detail?: string }>> = {
  'invalid-archive': { code: 'WSL_E_IMPORT_FAILED' },
  'too-large': { code: 'LXSSD_E_PAYLOAD_TOO_LARGE' },
  'disk-full': { code: 'ERROR_DISK_FULL' },
  exists: { code: 'ERROR_FILE_EXISTS' },
  'not-permitted': { code: 'E_ACCESSDENIED' },
  'bad-path': { code: 'E_INVALIDARG' },
  conflict: { code: 'LXSSD_E_ID_RANGE_CONFLICT' },
  'out-of-resources': { code: 'LXSSD_E_OUT_OF_RESOURCES', hint: 'try again later' },
  'user-not-found': { code: 'WSL_E_USER_NOT_FOUND' },
  'files-missing': { code: 'LXSSD_E_DISTRO_FILES_MISSING' },
  exited: { code: 'E_ILLEGAL_STATE_CHANGE', detail: 'the process has exited' },
  'not-supported': { code: 'LXSSD_E_NOT_SUPPORTED' },
};

/**
 * The caller-facing error for a hypervisor failure (HV_ERRORS); a kind it does not map becomes `fallback` when
 * given, else stays as it is. `about` prefixes the message (what was being done). Anything else passes through.
 */
export function fromHv(error: unknown, options: { fallback?: ErrorCode; about?: string } = {}): unknown {
  if (!(error instanceof HvError)) return error;
  const mapped = HV_ERRORS[error.kind];
  const code = mapped?.code ?? options.fallback;
  if (code === undefined) return error;
  const message = mapped?.detail ?? (mapped?.hint ? `${error.message}; ${mapped.hint}` : error.message);
  return new LxssError(code, options.about ? `${options.about}: ${message}` : message);
}

/** errno names of a service (or host) out of descriptors, memory or processes: a 503, never the caller's fault */
const EXHAUSTION_ERRNOS = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'ENOBUFS']);

/**
 * The 503 for an error that means the service ran out of descriptors, memory or processes, wherever it came
 * from (a file open, a spawn, a socket); undefined for any other error.
 */
export function outOfResources(error: unknown): LxssError | undefined {
  if (error instanceof LxssError) return error.code === 'LXSSD_E_OUT_OF_RESOURCES' ? error : undefined;
  if (error instanceof HvError) return error.kind === 'out-of-resources' ? (fromHv(error) as LxssError) : undefined;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && EXHAUSTION_ERRNOS.has(code)) {
    return new LxssError('LXSSD_E_OUT_OF_RESOURCES', `the service is out of descriptors or memory (${code}); try again later`);
  }
  return undefined;
}
