// Single-use secrets: good once, within their lifetime, bounded per SID, voided by what they are bound to.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LxssError } from '../../src/core/errors.js';
import { OneTimeCodes } from '../../src/core/one-time-codes.js';

describe('OneTimeCodes', () => {
  const options = { noun: 'ticket', prefix: 'lxsst_', lifetimeMs: 60_000, maxPerSid: 3 };

  it('redeems a code once, with its SID and binding', () => {
    const codes = new OneTimeCodes<{ tokenId: string }>(options);
    const { code } = codes.issue('S-1-22-1-0', { tokenId: 'a' });
    assert.deepEqual(codes.redeem(code), { sid: 'S-1-22-1-0', binding: { tokenId: 'a' } });
    assert.equal(codes.redeem(code), undefined, 'a second time is nothing');
    assert.equal(codes.redeem('lxsst_never-issued'), undefined);
  });

  it('expires after its lifetime', () => {
    let now = 1_000_000;
    const codes = new OneTimeCodes<null>(options, () => now);
    const { code, expiresAt } = codes.issue('S-1-22-1-0', null);
    assert.equal(Date.parse(expiresAt), now + 60_000);
    now += 60_000;
    assert.equal(codes.redeem(code), undefined);
  });

  it('bounds what one SID holds, frees the places of expired ones, and voids by binding', () => {
    let now = 0;
    const codes = new OneTimeCodes<string>(options, () => now);
    const held = [codes.issue('S-1-22-1-7', 'x'), codes.issue('S-1-22-1-7', 'y'), codes.issue('S-1-22-1-7', 'x')];
    assert.throws(() => codes.issue('S-1-22-1-7', 'z'), (error: unknown) => error instanceof LxssError && error.code === 'LXSSD_E_TOO_MANY_TICKETS');
    codes.issue('S-1-22-1-8', 'z');
    codes.voidWhere((binding) => binding === 'x');
    assert.equal(codes.redeem(held[0]!.code), undefined);
    assert.equal(codes.redeem(held[2]!.code), undefined);
    assert.ok(codes.redeem(held[1]!.code));
    now += 60_000;
    for (let i = 0; i < 3; i++) codes.issue('S-1-22-1-7', 'later');
  });
});
