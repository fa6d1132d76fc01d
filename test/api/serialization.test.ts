// The serializer's lean schemas (src/routes/serialization.ts): a nullable primitive becomes a type list, and what
// is written for any value the original schema takes is byte for byte what the original schema writes.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import SerializerSelector from '@fastify/fast-json-stringify-compiler';
import { Type } from '@sinclair/typebox';
import { leanForSerializer } from '../../src/routes/serialization.js';
import { COMPONENT_SCHEMAS } from '../../src/routes/components.js';
import { DistributionListSchema } from '../../src/routes/distributions.schemas.js';

const compileWith = SerializerSelector();

function serializer(schema: unknown, external?: Record<string, unknown>): (value: unknown) => string {
  return compileWith(external, {})({ schema, method: 'GET', url: '/', httpStatus: '200' } as never);
}

const Sample = Type.Object({
  id: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
  count: Type.Union([Type.Null(), Type.Integer({ minimum: 0 })]),
  flag: Type.Union([Type.Boolean(), Type.Null()]),
  when: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  either: Type.Union([Type.Integer(), Type.String()]),
  nested: Type.Union([Type.Object({ a: Type.String() }), Type.Null()]),
});

describe('leanForSerializer', () => {
  it('turns a nullable string, integer or boolean into a type list, and leaves dates, objects and other unions as they are', () => {
    const lean = leanForSerializer(Sample) as { properties: Record<string, Record<string, unknown>> };
    assert.deepEqual(lean.properties.id, { type: ['string', 'null'] });
    assert.deepEqual(lean.properties.count, { type: ['integer', 'null'] });
    assert.deepEqual(lean.properties.flag, { type: ['boolean', 'null'] });
    assert.ok(lean.properties.when!.anyOf, 'a date-time stays a union: the serializer turns Dates into text there');
    assert.ok(lean.properties.either!.anyOf, 'a union of two types, neither null, stays');
    assert.ok(lean.properties.nested!.anyOf, 'a nullable object stays');
    assert.ok((Sample.properties.id as { anyOf?: unknown }).anyOf, 'the schema itself is not changed');
  });

  it('writes exactly what the original schema writes, for any value it takes', () => {
    const original = serializer(Sample);
    const lean = serializer(leanForSerializer(Sample));
    const value = fc.record({
      id: fc.option(fc.uuid()),
      count: fc.option(fc.nat()),
      flag: fc.option(fc.boolean()),
      when: fc.option(fc.date({ noInvalidDate: true, min: new Date(0), max: new Date('9999-12-31T23:59:59Z') }).map((date) => date.toISOString())),
      either: fc.oneof(fc.integer(), fc.string()),
      nested: fc.option(fc.record({ a: fc.string() })),
    });
    fc.assert(fc.property(value, (sample) => assert.equal(lean(sample), original(sample))));
  });

  it('serves a distribution list as before, through the shared schemas it refers to', () => {
    const external = Object.fromEntries(COMPONENT_SCHEMAS.map((schema) => [schema.$id!, schema]));
    const leanExternal = Object.fromEntries(Object.entries(external).map(([id, schema]) => [id, leanForSerializer(schema)]));
    const original = serializer(DistributionListSchema, external);
    const lean = serializer(leanForSerializer(DistributionListSchema), leanExternal);
    for (const sample of [
      { distributions: [], defaultDistribution: null, next: null },
      { distributions: [], defaultDistribution: '00000000-0000-4000-8000-000000000000', next: 'abc' },
    ]) {
      assert.equal(lean(sample), original(sample));
    }
  });
});
