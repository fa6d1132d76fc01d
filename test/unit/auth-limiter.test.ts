import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AuthFailureLimiter } from '../../src/core/auth-limiter.js';

type Refusal = { code: string; extra: { retryAfter: number } };

/** The retry delay of a refused failure, or undefined when the failure was let through (to become a 401). */
function outcome(limiter: AuthFailureLimiter, address: string): number | undefined {
  try {
    limiter.recordFailure(address);
    return undefined;
  } catch (error) {
    assert.equal((error as Refusal).code, 'LXSSD_E_TOO_MANY_AUTH_FAILURES');
    return (error as Refusal).extra.retryAfter;
  }
}

describe('AuthFailureLimiter [S8]', () => {
  it('lets an address fail maxFailures times, then refuses its failures until its bucket refills, and no other address', () => {
    let now = 0;
    const limiter = new AuthFailureLimiter({ maxFailures: 3, maxGlobalFailures: 100, windowMs: 3000 }, () => now);
    for (let i = 0; i < 3; i++) assert.equal(outcome(limiter, 'a'), undefined, `failure ${i + 1} of 3 is let through`);
    assert.equal(outcome(limiter, 'a'), 1, 'the fourth is refused, with the wait for one more');
    assert.equal(outcome(limiter, 'b'), undefined, 'another address is not affected');
    now = 999;
    assert.equal(outcome(limiter, 'a'), 1, 'still empty: failures keep it drained');
    now = 2000;
    assert.equal(outcome(limiter, 'a'), undefined, 'a second later (one failure per second refills) it may fail again');
    assert.ok(outcome(limiter, 'a')! >= 1, 'and is refused again at once');
  });

  it('counts every address against one global bucket: changing the address within 127/8 gains nothing', () => {
    let now = 0;
    const limiter = new AuthFailureLimiter({ maxFailures: 3, maxGlobalFailures: 10, windowMs: 10_000 }, () => now);
    const passed = [];
    for (let i = 0; i < 50; i++) passed.push(outcome(limiter, `127.0.${i >> 8}.${i & 255}`) === undefined);
    assert.equal(passed.filter(Boolean).length, 10, 'fifty addresses failing once each: only the global ten get a 401');
    assert.deepEqual(passed.slice(0, 10), Array(10).fill(true), 'the first ten, then none');
    now = 10_000;
    assert.equal(outcome(limiter, '127.9.9.9'), undefined, 'the global bucket refills over its window');
  });

  it('holds a bounded number of addresses, least recently used forgotten first', () => {
    const limiter = new AuthFailureLimiter({ maxFailures: 2, maxGlobalFailures: 1e9, windowMs: 60_000, maxAddresses: 100 });
    outcome(limiter, 'kept');
    outcome(limiter, 'kept');
    for (let i = 0; i < 10_000; i++) {
      outcome(limiter, `127.1.${i >> 8}.${i & 255}`);
      if (i % 50 === 0) assert.ok(outcome(limiter, 'kept')! >= 1, `"kept" stays refused while it keeps failing (${i})`);
    }
    assert.equal(limiter.trackedAddresses, 100);
  });
});
