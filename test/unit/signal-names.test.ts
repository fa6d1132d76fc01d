import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { signalNumber } from '../../src/core/processes.js';

describe('signalNumber', () => {
  it('takes names with or without SIG, real-time names as kill -l gives them, and numbers', () => {
    const cases: Array<[string | number, number]> = [
      ['SIGTERM', 15],
      ['term', 15],
      ['KILL', 9],
      ['SIGRTMIN', 34],
      ['SIGRTMIN+1', 35],
      ['RTMAX-2', 62],
      ['SIGRTMAX', 64],
      [10, 10],
    ];
    for (const [given, number] of cases) assert.equal(signalNumber(given), number, String(given));
  });

  it('refuses what is not a signal with E_INVALIDARG', () => {
    for (const given of ['SIGBOGUS', 'SIGRTMIN-1', 'SIGRTMAX+1', 'SIGRTMIN+99', 0, 65, 1.5]) {
      assert.throws(() => signalNumber(given), { code: 'E_INVALIDARG' }, String(given));
    }
  });
});
