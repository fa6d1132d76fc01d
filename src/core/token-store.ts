// SID tokens: minting, verifying, listing and revoking. Owns the token file; the secret of a token is
// returned once by mint() and never stored, logged or listed — only its SHA-256 is kept.

import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { rename } from 'node:fs/promises';
import { readStateFile, StateFileError, writeFileAtomic } from './atomic-file.js';
import { LxssError } from './errors.js';
import type { Sid } from './identity.js';

/** What anyone may see of a token: everything but the secret. */
export interface TokenInfo {
  readonly id: string;
  readonly sid: Sid;
  readonly label: string | null;
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly lastUsedAt: string | null;
}

interface StoredToken extends TokenInfo {
  /** hex SHA-256 of the secret part */
  readonly hash: string;
}

interface TokenFile {
  version: 1;
  tokens: StoredToken[];
}

export interface MintRequest {
  sid: Sid;
  label?: string;
  expiresAt?: Date;
}

const TOKEN_PREFIX = 'lxss_';
const SECRET_BYTES = 32; // 256 bits
// `lxss_<16 hex id>_<43 base64url chars>`: the id finds the record, the secret proves possession.
const ID_CHARS = 16;
const SECRET_CHARS = 43;
const TOKEN_CHARS = TOKEN_PREFIX.length + ID_CHARS + 1 + SECRET_CHARS;
const LAST_USED_FLUSH_MS = 10_000;
/** Live tokens one SID may hold: every mint rewrites the file, which must not grow without bound. */
export const MAX_TOKENS_PER_SID = 256;
// Compared against when the id is unknown, so a miss costs what a hit costs.
const DUMMY_HASH = sha256('lxssd-no-such-token');

// crypto.hash: one call, no Hash object per request (token verification runs on every API request).
function sha256(text: string): Buffer {
  return hash('sha256', text, 'buffer');
}

/** What a verified token proves: whose it is, and which token (so what was opened with it ends with it). */
export interface VerifiedToken {
  readonly id: string;
  readonly sid: Sid;
}

/** A token as the store holds it: what verifying needs, decoded once. */
interface HeldToken {
  /** the record as read or minted; its lastUsedAt is older than `lastUsedMs` once it has been used since */
  readonly stored: StoredToken;
  readonly hash: Buffer;
  readonly expiresMs: number | null;
  /** the last use in this run, made a date string only when listed or saved */
  lastUsedMs: number | null;
  readonly verified: VerifiedToken;
}

function held(stored: StoredToken): HeldToken {
  return {
    stored,
    hash: Buffer.from(stored.hash, 'hex'),
    expiresMs: stored.expiresAt === null ? null : Date.parse(stored.expiresAt),
    lastUsedMs: null,
    verified: { id: stored.id, sid: stored.sid },
  };
}

function storedOf(token: HeldToken): StoredToken {
  return token.lastUsedMs === null ? token.stored : { ...token.stored, lastUsedAt: new Date(token.lastUsedMs).toISOString() };
}

function publicView(token: HeldToken): TokenInfo {
  const { hash: _hash, ...info } = storedOf(token);
  return info;
}

function expired(token: HeldToken, nowMs: number): boolean {
  return token.expiresMs !== null && token.expiresMs <= nowMs;
}

/** The id and secret of a presented token string, or undefined when it has not the shape of one. */
function tokenParts(presented: string): { id: string; secret: string } | undefined {
  if (presented.length !== TOKEN_CHARS || !presented.startsWith(TOKEN_PREFIX)) return undefined;
  const idEnd = TOKEN_PREFIX.length + ID_CHARS;
  if (presented.charCodeAt(idEnd) !== 0x5f /* _ */) return undefined;
  for (let at = TOKEN_PREFIX.length; at < idEnd; at++) {
    const code = presented.charCodeAt(at);
    if (!((code >= 0x30 && code <= 0x39) || (code >= 0x61 && code <= 0x66))) return undefined;
  }
  for (let at = idEnd + 1; at < TOKEN_CHARS; at++) {
    const code = presented.charCodeAt(at);
    const base64url =
      (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39) || code === 0x2d || code === 0x5f;
    if (!base64url) return undefined;
  }
  return { id: presented.slice(TOKEN_PREFIX.length, idEnd), secret: presented.slice(idEnd + 1) };
}

const nullableString = (value: unknown): boolean => value === null || typeof value === 'string';

/** What is wrong with a parsed token file, or undefined; every token is checked, so none can crash a request. */
function tokenFileFault(value: unknown): string | undefined {
  const tokens = (value as Partial<TokenFile>).tokens;
  if (!Array.isArray(tokens)) return '"tokens" is not a list';
  for (const [index, item] of (tokens as unknown[]).entries()) {
    const token = (item ?? {}) as Partial<StoredToken>;
    const valid =
      typeof item === 'object' && item !== null &&
      typeof token.id === 'string' && /^[0-9a-f]{16}$/.test(token.id) &&
      typeof token.sid === 'string' &&
      typeof token.hash === 'string' && /^[0-9a-f]{64}$/.test(token.hash) &&
      typeof token.createdAt === 'string' &&
      nullableString(token.label) && nullableString(token.expiresAt) && nullableString(token.lastUsedAt);
    if (!valid) return `token ${index} is not a valid token record`;
  }
  return undefined;
}

/** The token file of one service; all methods are safe to call concurrently. */
export class TokenStore {
  private readonly tokens = new Map<string, HeldToken>();
  /** who wants to hear that a token ended (revoked now, or expired later), by token id */
  private readonly watchers = new Map<string, Set<() => void>>();
  private saving: Promise<void> = Promise.resolve();
  private flushTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly file: string,
    private readonly now: () => Date,
  ) {}

  /**
   * Opens the token file (a missing file is an empty store). A damaged one (a StateFileError) is set aside as
   * `<file>.corrupt-<time>` and the store starts empty, so the service still starts; `setAside` hears of it.
   */
  static async open(
    file: string,
    now: () => Date = () => new Date(),
    setAside: (fault: StateFileError, movedTo: string) => void = () => undefined,
  ): Promise<TokenStore> {
    const store = new TokenStore(file, now);
    let parsed: TokenFile | undefined;
    try {
      parsed = await readStateFile<TokenFile>(file, 'a token file', tokenFileFault);
    } catch (error) {
      if (!(error instanceof StateFileError)) throw error;
      const movedTo = `${file}.corrupt-${now().toISOString().replace(/[:.]/g, '-')}`;
      // rename moves a symlink itself, never what it points at.
      await rename(file, movedTo);
      setAside(error, movedTo);
    }
    if (parsed !== undefined) {
      for (const token of parsed.tokens) store.tokens.set(token.id, held(token));
    }
    return store;
  }

  /** Creates a token for `sid`; the returned `token` string is the only copy of the secret. */
  async mint(request: MintRequest): Promise<{ token: string; info: TokenInfo }> {
    const now = this.now();
    if (request.expiresAt && request.expiresAt.getTime() <= now.getTime()) {
      throw new LxssError('E_INVALIDARG', 'expiresAt is not in the future');
    }
    this.forgetExpired(now);
    const holding = [...this.tokens.values()].filter((token) => token.stored.sid === request.sid).length;
    if (holding >= MAX_TOKENS_PER_SID) {
      throw new LxssError('LXSSD_E_TOO_MANY_TOKENS', `${request.sid} already holds ${holding} tokens, the most allowed; revoke some first`);
    }
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(SECRET_BYTES).toString('base64url');
    const token = held({
      id,
      sid: request.sid,
      label: request.label ?? null,
      createdAt: now.toISOString(),
      expiresAt: request.expiresAt?.toISOString() ?? null,
      lastUsedAt: null,
      hash: sha256(secret).toString('hex'),
    });
    this.tokens.set(id, token);
    try {
      await this.save();
    } catch (error) {
      // Not written, so never handed out: the store stays what the file says.
      this.tokens.delete(id);
      throw error;
    }
    return { token: `${TOKEN_PREFIX}${id}_${secret}`, info: publicView(token) };
  }

  /**
   * The token a presented string proves, or undefined when it is unknown, wrong, revoked or expired. Called on
   * every request: it allocates little (the proof is the held token's own) and compares the secret's hash in
   * constant time, against a dummy when the id is unknown.
   */
  verify(presented: string): VerifiedToken | undefined {
    const parts = tokenParts(presented);
    if (!parts) return undefined;
    const token = this.tokens.get(parts.id);
    const matches = timingSafeEqual(sha256(parts.secret), token ? token.hash : DUMMY_HASH);
    if (!token || !matches) return undefined;
    const nowMs = this.now().getTime();
    if (expired(token, nowMs)) return undefined;
    token.lastUsedMs = nowMs;
    this.scheduleFlush();
    return token.verified;
  }

  /** Whether token `id` is still good: neither revoked nor expired. */
  isAlive(id: string): boolean {
    const token = this.tokens.get(id);
    return token !== undefined && !expired(token, this.now().getTime());
  }

  /** The tokens of one SID, oldest first. */
  list(sid: Sid): TokenInfo[] {
    return [...this.tokens.values()]
      .filter((token) => token.stored.sid === sid)
      .map(publicView)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Every token, oldest first. */
  listAll(): TokenInfo[] {
    return [...this.tokens.values()].map(publicView).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Revokes `id` if it belongs to `sid` (any SID when undefined); false when there is no such token. */
  async revoke(sid: Sid | undefined, id: string): Promise<boolean> {
    const token = this.tokens.get(id);
    if (!token || (sid !== undefined && token.stored.sid !== sid)) return false;
    this.tokens.delete(id);
    try {
      await this.save();
    } catch (error) {
      // Still in the file, so still valid: say so rather than pretend it is revoked.
      if (!this.tokens.has(id)) this.tokens.set(id, token);
      throw error;
    }
    for (const listener of [...(this.watchers.get(id) ?? [])]) listener();
    return true;
  }

  /**
   * Calls `listener` once when token `id` is revoked or expires (at once if it is already gone), so what was
   * opened with it — a stream, a socket — ends with it. Returns the function that stops watching.
   */
  watch(id: string, listener: () => void): () => void {
    let timer: NodeJS.Timeout | undefined;
    const listeners = this.watchers.get(id) ?? new Set<() => void>();
    const stop = (): void => {
      clearTimeout(timer);
      listeners.delete(fire);
      if (listeners.size === 0 && this.watchers.get(id) === listeners) this.watchers.delete(id);
    };
    const fire = (): void => {
      stop();
      listener();
    };
    const armExpiry = (): void => {
      const token = this.tokens.get(id);
      if (token === undefined) return fire();
      if (token.expiresMs === null) return;
      const left = token.expiresMs - this.now().getTime();
      if (left <= 0) return fire();
      // Timers hold at most 2^31-1 ms; a longer life is waited for in steps.
      timer = setTimeout(armExpiry, Math.min(left, 0x7fffffff));
      timer.unref();
    };
    listeners.add(fire);
    this.watchers.set(id, listeners);
    armExpiry();
    return stop;
  }

  /** Expired tokens can never be used again: they leave the file at the next write (their watchers still fire). */
  private forgetExpired(now: Date): void {
    for (const [id, token] of this.tokens) {
      if (expired(token, now.getTime())) this.tokens.delete(id);
    }
  }

  /** Writes pending last-used times; call before the service exits. */
  async close(): Promise<void> {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
      await this.save();
    }
    await this.saving;
  }

  private scheduleFlush(): void {
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.save().catch(() => {
        // A lost last-used time is harmless; the next save writes it again.
      });
    }, LAST_USED_FLUSH_MS);
    this.flushTimer.unref();
  }

  private save(): Promise<void> {
    const write = async (): Promise<void> => {
      const content: TokenFile = { version: 1, tokens: [...this.tokens.values()].map(storedOf) };
      await writeFileAtomic(this.file, `${JSON.stringify(content, null, 2)}\n`, 0o600);
    };
    // Chained so writes never interleave, and a failed write does not block the next one.
    const next = this.saving.then(write, write);
    this.saving = next.catch(() => undefined);
    return next;
  }
}
