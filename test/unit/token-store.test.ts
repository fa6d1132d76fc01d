import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_TOKENS_PER_SID, TokenStore } from '../../src/core/token-store.js';

describe('TokenStore', () => {
  it('verifies, expires and revokes, and survives a reopen', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'lxssd-tokens-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'tokens.json');
    let now = new Date('2026-01-01T00:00:00Z');
    const store = await TokenStore.open(file, () => now);

    const forever = await store.mint({ sid: 'S-1-22-1-1000', label: 'a' });
    const brief = await store.mint({ sid: 'S-1-22-1-1000', expiresAt: new Date('2026-01-01T00:01:00Z') });
    assert.equal(store.verify(forever.token)?.sid, 'S-1-22-1-1000');
    assert.equal(store.verify(brief.token)?.id, brief.info.id);
    now = new Date('2026-01-01T00:01:00Z');
    assert.equal(store.verify(brief.token), undefined, 'expired at its expiry instant');
    assert.ok(store.verify(forever.token), 'the other one still works');

    assert.equal(await store.revoke('S-1-22-1-1001', forever.info.id), false, 'another SID cannot revoke it');
    assert.ok(store.verify(forever.token));
    await store.close();

    const reopened = await TokenStore.open(file, () => now);
    assert.ok(reopened.verify(forever.token), 'reopened store knows the token');
    assert.equal(await reopened.revoke('S-1-22-1-1000', forever.info.id), true);
    assert.equal(reopened.verify(forever.token), undefined, 'revoked');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.ok(!(await readFile(file, 'utf8')).includes(forever.token.slice(-43)));
    await assert.rejects(reopened.mint({ sid: 'S-1-22-1-0', expiresAt: new Date('2020-01-01T00:00:00Z') }), /future/);
  });

  it('refuses malformed and unknown tokens', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'lxssd-tokens-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const store = await TokenStore.open(join(dir, 'tokens.json'));
    const { token } = await store.mint({ sid: 'S-1-22-1-0' });
    for (const wrong of ['', 'lxss_', token.slice(0, -1), `${token}x`, token.replace('lxss_', 'lxsx_'), token.toUpperCase()]) {
      assert.equal(store.verify(wrong), undefined, JSON.stringify(wrong));
    }
  });

  it(`holds at most ${MAX_TOKENS_PER_SID} live tokens per SID, and forgets expired ones`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'lxssd-tokens-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'tokens.json');
    let now = new Date('2026-01-01T00:00:00Z');
    const store = await TokenStore.open(file, () => now);
    const brief = await store.mint({ sid: 'S-1-22-1-1000', expiresAt: new Date('2026-01-01T00:01:00Z') });
    for (let i = 1; i < MAX_TOKENS_PER_SID; i++) await store.mint({ sid: 'S-1-22-1-1000' });
    await assert.rejects(store.mint({ sid: 'S-1-22-1-1000' }), { code: 'LXSSD_E_TOO_MANY_TOKENS' });
    assert.ok(await store.mint({ sid: 'S-1-22-1-1001' }), 'another SID has its own allowance');

    now = new Date('2026-01-01T00:02:00Z');
    assert.ok(await store.mint({ sid: 'S-1-22-1-1000' }), 'the expired token made room');
    await store.close();
    assert.ok(!(await readFile(file, 'utf8')).includes(brief.info.id), 'and left the file');
    assert.equal(store.list('S-1-22-1-1000').length, MAX_TOKENS_PER_SID);
  });
});
