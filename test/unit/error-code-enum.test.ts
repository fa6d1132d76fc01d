// The OpenAPI `ErrorCode` enum is the error table, and the error table is what docs/errors.md documents:
// a code added, renamed or removed in one place and not the others fails here.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { ERROR_TABLE } from '../../src/core/errors.js';
import { ErrorCodeSchema } from '../../src/routes/problem.schemas.js';

describe('ErrorCode (the OpenAPI enum of error codes)', () => {
  it('lists exactly the codes of src/core/errors.ts, as a string enum', () => {
    const schema = ErrorCodeSchema as unknown as { type: string; enum: string[] };
    assert.equal(schema.type, 'string');
    assert.deepEqual([...schema.enum].sort(), Object.keys(ERROR_TABLE).sort());
  });

  it('lists exactly the codes docs/errors.md has a row for', async () => {
    const doc = await readFile(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|\s*\d{3}\s*\|/gm)].map((match) => match[1]);
    const schema = ErrorCodeSchema as unknown as { enum: string[] };
    assert.deepEqual([...new Set(documented)].sort(), [...schema.enum].sort());
  });
});
