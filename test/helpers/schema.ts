// Checks wire values against the published TypeBox schemas, with the string formats those schemas use.

import assert from 'node:assert/strict';
import type { TSchema } from '@sinclair/typebox';
import { FormatRegistry } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

const FORMATS: Record<string, RegExp> = {
  uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
  'date-time': /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/,
};
for (const [name, pattern] of Object.entries(FORMATS)) {
  if (!FormatRegistry.Has(name)) FormatRegistry.Set(name, (value) => pattern.test(value));
}

export function assertMatchesSchema(schema: TSchema, value: unknown): void {
  const errors = [...Value.Errors(schema, value)].map((error) => `${error.path || '/'}: ${error.message}`);
  assert.deepEqual(errors, [], `${JSON.stringify(value)} does not match the schema`);
}
