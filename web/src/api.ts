// The page's client of the lxssd API: same origin, the token from sessionStorage as the bearer header (never a
// cookie: cookies are not port-scoped), WebSockets with the token as a subprotocol, every failure a Problem.

import { formatBytes } from '../../src/client/format.js';
import { problemFromResponse, type ProblemSummary } from '../../src/client/problem.js';

const TOKEN_KEY = 'lxssd.token';

export type Problem = ProblemSummary;

export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(`${problem.code}: ${problem.detail}`);
  }
}

export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function storeToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

/** Heard when the service says the token is no good any more (401), so the page can go back to sign-in. */
let onUnauthenticated: (problem: Problem) => void = () => undefined;
export function whenUnauthenticated(listener: (problem: Problem) => void): void {
  onUnauthenticated = listener;
}

export interface CallOptions {
  method?: string;
  body?: unknown;
  token?: string;
}

/** Calls the API; resolves with the JSON answer (null for 204), throws an ApiError with the problem. */
export async function api<T = unknown>(path: string, options: CallOptions = {}): Promise<T> {
  const token = options.token ?? storedToken();
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(path, {
      method: options.method ?? 'GET',
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  } catch (error) {
    throw new ApiError({ status: 0, code: 'LXSSD_E_NOT_RUNNING', detail: `lxssd does not answer (${(error as Error).message})` });
  }
  if (!response.ok) {
    const problem = await problemFromResponse(response);
    if (response.status === 401 && options.token === undefined) onUnauthenticated(problem);
    throw new ApiError(problem);
  }
  if (response.status === 204) return null as T;
  return (await response.json()) as T;
}

/** A WebSocket to the API, authenticated by the token subprotocol next to the real one. */
export function openSocket(path: string, protocol: string): WebSocket {
  const url = new URL(path, location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const token = storedToken();
  return new WebSocket(url, token ? [protocol, `lxss.token.${token}`] : [protocol]);
}

/** WebSocket close code for a stream whose token was revoked or expired. */
export const CLOSE_TOKEN_ENDED = 4401;

/** A size for people; a dash when there is none. */
export function formatSize(bytes: number | null | undefined): string {
  return bytes === null || bytes === undefined ? '—' : formatBytes(bytes);
}

/** Every item of a paged list (`?limit=&after=`, answered with `next`), page after page. */
export async function allPages<T>(path: string, key: string): Promise<T[]> {
  const found: T[] = [];
  let after: string | null | undefined;
  do {
    const page = await api<Record<string, unknown> & { next: string | null }>(`${path}?limit=1000${after ? `&after=${encodeURIComponent(after)}` : ''}`);
    found.push(...(page[key] as T[]));
    after = page.next;
  } while (after);
  return found;
}

export function describeError(error: unknown): string {
  if (error instanceof ApiError) return `${error.problem.detail} (${error.problem.code})`;
  return error instanceof Error ? error.message : String(error);
}
