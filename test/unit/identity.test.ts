import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isSid } from '../../src/core/identity.js';
import { createLinuxHypervisor } from '../../src/hv/linux/index.js';
import { sidForUid, uidForSid } from '../../src/hv/linux/owners.js';

describe('identity', () => {
  it('maps Linux uid N to S-1-22-1-N and back', () => {
    for (const uid of [0, 1, 1000, 65534, 4294967295]) {
      assert.equal(uidForSid(sidForUid(uid)), uid, `uid ${uid}`);
    }
    assert.equal(sidForUid(1000), 'S-1-22-1-1000');
    assert.equal(sidForUid(0), 'S-1-22-1-0');
    for (const sid of ['S-1-5-21-1-2-3-1001', 'S-1-22-1-', 'S-1-22-1-01', 'S-1-22-1-4294967296', 'S-1-22-2-5']) {
      assert.equal(uidForSid(sid), undefined, sid);
    }
    assert.throws(() => sidForUid(-1));
  });

  it('recognises SIDs and the administrator', () => {
    assert.ok(isSid('S-1-5-21-3623811015-3361044348-30300820-1013'));
    assert.ok(!isSid('root'));
    assert.ok(!isSid('S-1'));
    const hv = createLinuxHypervisor();
    assert.ok(hv.isAdministrator('S-1-22-1-0'));
    assert.ok(!hv.isAdministrator(sidForUid(1000)));
    assert.ok(!hv.isAdministrator('S-1-5-21-1-2-3-500'));
  });
});
