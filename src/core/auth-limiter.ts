// Slows down token guessing: counts failed authentications per client address in a fixed window and
// refuses that address once it passes the limit, until the window ends.

import { LxssError } from './errors.js';

export interface AuthLimiterOptions {
  /** failures allowed per address per window */
  readonly maxFailures: number;
  readonly windowMs: number;
}

interface Window {
  startedAt: number;
  failures: number;
}

export class AuthFailureLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly options: AuthLimiterOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Throws LXSSD_E_TOO_MANY_AUTH_FAILURES while `address` is over its limit. */
  check(address: string): void {
    const window = this.current(address);
    if (window && window.failures >= this.options.maxFailures) {
      const retryAfter = Math.max(1, Math.ceil((window.startedAt + this.options.windowMs - this.now()) / 1000));
      throw new LxssError(
        'LXSSD_E_TOO_MANY_AUTH_FAILURES',
        `too many failed authentications from this address; retry in ${retryAfter} s`,
        { retryAfter },
      );
    }
  }

  recordFailure(address: string): void {
    const window = this.current(address) ?? { startedAt: this.now(), failures: 0 };
    window.failures += 1;
    this.windows.set(address, window);
    if (this.windows.size > 10_000) this.prune();
  }

  private current(address: string): Window | undefined {
    const window = this.windows.get(address);
    if (window && this.now() - window.startedAt >= this.options.windowMs) {
      this.windows.delete(address);
      return undefined;
    }
    return window;
  }

  private prune(): void {
    for (const address of [...this.windows.keys()]) this.current(address);
  }
}
