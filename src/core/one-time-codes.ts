// Single-use secrets with a short life: the tickets a browser puts in a URL (a download, an EventSource) and the
// login codes `lxssd open` puts in a URL fragment. Each is good once, within its lifetime, for what it was made
// for; only its SHA-256 is kept, and they live in memory only (a restart voids them all, which costs a click).

import { createHash, randomBytes } from 'node:crypto';
import { LxssError } from './errors.js';
import type { Sid } from './identity.js';

export interface OneTimeCodeOptions {
  /** what the code is called in messages ("ticket", "login code") */
  noun: string;
  /** prefix of the secret, so a leaked one says what it is (`lxsst_`, `lxssl_`) */
  prefix: string;
  lifetimeMs: number;
  /** at most this many outstanding per SID: each is memory, so asking for more is refused (409, retryAfter) */
  maxPerSid: number;
}

interface Outstanding<T> {
  readonly sid: Sid;
  readonly binding: T;
  readonly expiresAt: number;
}

function digest(code: string): string {
  return createHash('sha256').update(code).digest('hex');
}

export class OneTimeCodes<T> {
  private readonly outstanding = new Map<string, Outstanding<T>>();

  constructor(
    private readonly options: OneTimeCodeOptions,
    private readonly now: () => number = Date.now,
  ) {}

  issue(sid: Sid, binding: T): { code: string; expiresAt: string } {
    this.forgetExpired();
    let held = 0;
    for (const entry of this.outstanding.values()) if (entry.sid === sid) held++;
    if (held >= this.options.maxPerSid) {
      throw new LxssError('LXSSD_E_TOO_MANY_TICKETS', `you hold ${held} unused ${this.options.noun}s, the most allowed; use them or wait a minute`, {
        retryAfter: Math.ceil(this.options.lifetimeMs / 1000),
      });
    }
    const code = `${this.options.prefix}${randomBytes(32).toString('base64url')}`;
    const expiresAt = this.now() + this.options.lifetimeMs;
    this.outstanding.set(digest(code), { sid, binding, expiresAt });
    return { code, expiresAt: new Date(expiresAt).toISOString() };
  }

  /**
   * Uses a code up: its SID and binding, or undefined when it is unknown, used or expired. Any presentation
   * spends it, a wrong one included, so a code seen by someone else is worth at most one try.
   */
  redeem(code: string): { sid: Sid; binding: T } | undefined {
    const key = digest(code);
    const entry = this.outstanding.get(key);
    if (!entry) return undefined;
    this.outstanding.delete(key);
    if (entry.expiresAt <= this.now()) return undefined;
    return { sid: entry.sid, binding: entry.binding };
  }

  /** Voids every code whose binding matches (a revoked token's tickets). */
  voidWhere(matches: (binding: T) => boolean): void {
    for (const [key, entry] of this.outstanding) if (matches(entry.binding)) this.outstanding.delete(key);
  }

  private forgetExpired(): void {
    const now = this.now();
    for (const [key, entry] of this.outstanding) if (entry.expiresAt <= now) this.outstanding.delete(key);
  }
}
