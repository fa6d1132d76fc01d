import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AuthFailureLimiter } from '../../src/core/auth-limiter.js';

describe('AuthFailureLimiter', () => {
  it('blocks an address after the limit until its window ends, and no other address', () => {
    let now = 0;
    const limiter = new AuthFailureLimiter({ maxFailures: 3, windowMs: 1000 }, () => now);
    for (let i = 0; i < 3; i++) {
      limiter.check('a');
      limiter.recordFailure('a');
    }
    assert.throws(() => limiter.check('a'), /too many/);
    limiter.check('b');
    now = 999;
    assert.throws(() => limiter.check('a'), (error: { extra: { retryAfter: number } }) => error.extra.retryAfter === 1);
    now = 1000;
    limiter.check('a');
  });
});
