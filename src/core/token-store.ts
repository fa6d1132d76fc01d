// SID tokens: minting, verifying, listing and revoking. Owns the token file; the secret of a token is
// returned once by mint() and never stored, logged or listed — only its SHA-256 is kept.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
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
const TOKEN_PATTERN = /^lxss_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const LAST_USED_FLUSH_MS = 10_000;
/** Live tokens one SID may hold: every mint rewrites the file, which must not grow without bound. */
export const MAX_TOKENS_PER_SID = 256;
// Compared against when the id is unknown, so a miss costs what a hit costs.
const DUMMY_HASH = createHash('sha256').update('lxssd-no-such-token').digest();

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function publicView(token: StoredToken): TokenInfo {
  const { hash: _hash, ...info } = token;
  return info;
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
  private readonly tokens = new Map<string, StoredToken>();
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
      for (const token of parsed.tokens) store.tokens.set(token.id, token);
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
    const held = [...this.tokens.values()].filter((token) => token.sid === request.sid).length;
    if (held >= MAX_TOKENS_PER_SID) {
      throw new LxssError('LXSSD_E_TOO_MANY_TOKENS', `${request.sid} already holds ${held} tokens, the most allowed; revoke some first`);
    }
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(SECRET_BYTES).toString('base64url');
    const stored: StoredToken = {
      id,
      sid: request.sid,
      label: request.label ?? null,
      createdAt: now.toISOString(),
      expiresAt: request.expiresAt?.toISOString() ?? null,
      lastUsedAt: null,
      hash: sha256(secret).toString('hex'),
    };
    this.tokens.set(id, stored);
    try {
      await this.save();
    } catch (error) {
      // Not written, so never handed out: the store stays what the file says.
      this.tokens.delete(id);
      throw error;
    }
    return { token: `${TOKEN_PREFIX}${id}_${secret}`, info: publicView(stored) };
  }

  /** The token a presented string proves, or undefined when it is unknown, wrong, revoked or expired. */
  verify(presented: string): TokenInfo | undefined {
    const match = TOKEN_PATTERN.exec(presented);
    if (!match) return undefined;
    const [, id, secret] = match as unknown as [string, string, string];
    const stored = this.tokens.get(id);
    const expected = stored ? Buffer.from(stored.hash, 'hex') : DUMMY_HASH;
    const matches = timingSafeEqual(sha256(secret), expected);
    if (!stored || !matches) return undefined;
    const now = this.now();
    if (stored.expiresAt !== null && Date.parse(stored.expiresAt) <= now.getTime()) return undefined;
    const used: StoredToken = { ...stored, lastUsedAt: now.toISOString() };
    this.tokens.set(id, used);
    this.scheduleFlush();
    return publicView(used);
  }

  /** Whether token `id` is still good: neither revoked nor expired. */
  isAlive(id: string): boolean {
    const stored = this.tokens.get(id);
    return stored !== undefined && (stored.expiresAt === null || Date.parse(stored.expiresAt) > this.now().getTime());
  }

  /** The tokens of one SID, oldest first. */
  list(sid: Sid): TokenInfo[] {
    return [...this.tokens.values()]
      .filter((token) => token.sid === sid)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
      .map(publicView);
  }

  /** Every token, oldest first. */
  listAll(): TokenInfo[] {
    return [...this.tokens.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt)).map(publicView);
  }

  /** Revokes `id` if it belongs to `sid` (any SID when undefined); false when there is no such token. */
  async revoke(sid: Sid | undefined, id: string): Promise<boolean> {
    const stored = this.tokens.get(id);
    if (!stored || (sid !== undefined && stored.sid !== sid)) return false;
    this.tokens.delete(id);
    try {
      await this.save();
    } catch (error) {
      // Still in the file, so still valid: say so rather than pretend it is revoked.
      if (!this.tokens.has(id)) this.tokens.set(id, stored);
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
      const expiresAt = this.tokens.get(id)?.expiresAt;
      if (expiresAt === undefined) return fire();
      if (expiresAt === null) return;
      const left = Date.parse(expiresAt) - this.now().getTime();
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
      if (token.expiresAt !== null && Date.parse(token.expiresAt) <= now.getTime()) this.tokens.delete(id);
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
      const content: TokenFile = { version: 1, tokens: [...this.tokens.values()] };
      await writeFileAtomic(this.file, `${JSON.stringify(content, null, 2)}\n`, 0o600);
    };
    // Chained so writes never interleave, and a failed write does not block the next one.
    const next = this.saving.then(write, write);
    this.saving = next.catch(() => undefined);
    return next;
  }
}
