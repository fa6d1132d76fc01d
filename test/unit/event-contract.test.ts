// The check every test server runs on its buses' events (test/helpers/event-contract.ts) tells a described
// event from one the document does not describe.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventBus } from '../../src/core/events.js';
import { eventMismatch } from '../helpers/event-contract.js';

describe('the event contract check', () => {
  it('passes what the bus emits, and fails a field or a type the document lacks', () => {
    const bus = new EventBus();
    const registered = bus.emit({ type: 'distribution-registered', distributionId: '3f1c2a4e-8b7d-4c6e-9a1b-2d3e4f5a6b7c', name: 'Debian' });
    const failed = bus.emit({ type: 'distribution-import-failed', distributionId: '3f1c2a4e-8b7d-4c6e-9a1b-2d3e4f5a6b7c', name: 'x', code: 'WSL_E_IMPORT_FAILED', detail: 'bad' });
    assert.equal(eventMismatch(registered), undefined);
    assert.equal(eventMismatch(failed), undefined);
    assert.notEqual(eventMismatch({ ...registered, extra: 1 }), undefined, 'a field the document lacks');
    assert.notEqual(eventMismatch({ ...registered, type: 'distribution-frobbed' }), undefined, 'a type the document lacks');
    assert.notEqual(eventMismatch({ ...failed, code: 'NOT_A_CODE' }), undefined, 'a code that is not an ErrorCode');
  });
});
