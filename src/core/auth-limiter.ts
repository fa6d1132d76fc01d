// Slows failed authentication, never a valid one: callers check the token first and only report failures
// here. Failures drain a token bucket per client address and one shared by every address (so changing the
// source address within 127/8 gains nothing); a failure with its bucket empty is answered 429 with the time
// until the bucket refills. Memory is bounded: the per-address buckets are few and least-recently-used go.
// 256-bit tokens cannot be guessed, so this is noise control (logs, CPU), not the defence (DESIGN.md §4).

import { LxssError } from './errors.js';

export interface AuthLimiterOptions {
  /** failures one address may make per window before it is answered 429 */
  readonly maxFailures: number;
  /** failures all addresses together may make per window */
  readonly maxGlobalFailures: number;
  readonly windowMs: number;
  /** per-address buckets kept (least recently used ones forgotten first); default 4096 */
  readonly maxAddresses?: number;
}

/** A token bucket: holds up to `capacity` failures' worth, refilled evenly over the window. */
interface Bucket {
  level: number;
  updatedAt: number;
}

const DEFAULT_MAX_ADDRESSES = 4096;

export class AuthFailureLimiter {
  private readonly addresses = new Map<string, Bucket>();
  private readonly global: Bucket;

  constructor(
    private readonly options: AuthLimiterOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.global = { level: options.maxGlobalFailures, updatedAt: now() };
  }

  /** Per-address buckets held now (bounded by maxAddresses). */
  get trackedAddresses(): number {
    return this.addresses.size;
  }

  /**
   * Counts a failed authentication from `address`. Throws LXSSD_E_TOO_MANY_AUTH_FAILURES (429, with
   * `retryAfter` seconds) when that address, or every address together, has failed too often lately;
   * returns normally (the caller answers 401) otherwise.
   */
  recordFailure(address: string): void {
    const now = this.now();
    const own = this.bucketOf(address, now);
    this.refill(own, this.options.maxFailures, now);
    this.refill(this.global, this.options.maxGlobalFailures, now);
    const ownOver = own.level < 1;
    const globalOver = this.global.level < 1;
    // Every failure drains both buckets (not below empty), so an address that is refused stays refused while it
    // keeps failing, and its failures still count against everyone's bucket.
    own.level = Math.max(0, own.level - 1);
    this.global.level = Math.max(0, this.global.level - 1);
    if (!ownOver && !globalOver) return;
    const wait = Math.max(
      ownOver ? this.secondsUntilOne(own, this.options.maxFailures) : 0,
      globalOver ? this.secondsUntilOne(this.global, this.options.maxGlobalFailures) : 0,
    );
    throw new LxssError(
      'LXSSD_E_TOO_MANY_AUTH_FAILURES',
      ownOver
        ? `too many failed authentications from this address; retry in ${wait} s (a valid token is always accepted)`
        : `too many failed authentications on this service; retry in ${wait} s (a valid token is always accepted)`,
      { retryAfter: wait },
    );
  }

  private bucketOf(address: string, now: number): Bucket {
    let bucket = this.addresses.get(address);
    if (bucket) {
      this.addresses.delete(address); // re-inserted below: the Map's order is least recently used first
    } else {
      bucket = { level: this.options.maxFailures, updatedAt: now };
      const max = this.options.maxAddresses ?? DEFAULT_MAX_ADDRESSES;
      while (this.addresses.size >= max) this.addresses.delete(this.addresses.keys().next().value!);
    }
    this.addresses.set(address, bucket);
    return bucket;
  }

  private refill(bucket: Bucket, capacity: number, now: number): void {
    const elapsed = Math.max(0, now - bucket.updatedAt);
    bucket.level = Math.min(capacity, bucket.level + (elapsed * capacity) / this.options.windowMs);
    bucket.updatedAt = now;
  }

  /** Whole seconds (at least 1) until the bucket holds one failure again. */
  private secondsUntilOne(bucket: Bucket, capacity: number): number {
    const ms = ((1 - bucket.level) * this.options.windowMs) / capacity;
    return Math.max(1, Math.ceil(ms / 1000));
  }
}
