// Response serialization: fast-json-stringify, on schemas first made lean for it.
//
// fast-json-stringify picks an anyOf branch by running ajv on the value (for `Type.Union([Type.String({ format:
// 'uuid' }), Type.Null()])` a uuid regex, on every response), while a type list (`type: ['string', 'null']`) is a
// typeof. The schemas stay as they are for validation and the OpenAPI document; only what the serializer compiles
// from is rewritten, and only where the outcome cannot differ: a nullable string, number, integer or boolean whose
// other keywords only constrain values (serializing never checks them). Date formats are left alone: for those the
// serializer turns a Date into text.

import SerializerSelector from '@fastify/fast-json-stringify-compiler';
import type { FastifyServerOptions } from 'fastify';

type BuildSerializer = NonNullable<
  NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildSerializer']
>;

const PRIMITIVE_TYPES = new Set(['string', 'number', 'integer', 'boolean']);
/** Keywords that only describe or constrain a value: a serializer writes the value the same without them. */
const VALUE_KEYWORDS = new Set([
  'type',
  'format',
  'description',
  'title',
  'examples',
  'default',
  'minLength',
  'maxLength',
  'pattern',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
]);
const DATE_FORMATS = new Set(['date-time', 'date', 'time']);

type Schema = Record<string, unknown>;

function isObject(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNull(branch: unknown): boolean {
  return isObject(branch) && branch.type === 'null' && Object.keys(branch).every((key) => key === 'type' || key === 'description');
}

function isPlainPrimitive(branch: unknown): branch is Schema & { type: string } {
  return (
    isObject(branch) &&
    typeof branch.type === 'string' &&
    PRIMITIVE_TYPES.has(branch.type) &&
    !DATE_FORMATS.has(branch.format as string) &&
    Object.keys(branch).every((key) => VALUE_KEYWORDS.has(key))
  );
}

/** A copy of `schema` with each nullable primitive union as a type list (see the top of this file). */
export function leanForSerializer(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(leanForSerializer);
  if (!isObject(schema)) return schema;
  const copy: Schema = {};
  for (const [key, value] of Object.entries(schema)) copy[key] = leanForSerializer(value);
  const branches = copy.anyOf;
  if (Array.isArray(branches) && branches.length === 2 && copy.type === undefined) {
    const nullAt = branches.findIndex(isNull);
    const other = branches[1 - nullAt];
    if (nullAt !== -1 && isPlainPrimitive(other)) {
      delete copy.anyOf;
      return { ...copy, type: [other.type, 'null'] };
    }
  }
  return copy;
}

const defaultFactory = SerializerSelector();

function buildLeanSerializer(...[externalSchemas, options]: Parameters<BuildSerializer>): ReturnType<BuildSerializer> {
  const shared =
    externalSchemas === undefined
      ? undefined
      : Object.fromEntries(Object.entries(externalSchemas as Record<string, unknown>).map(([id, schema]) => [id, leanForSerializer(schema)]));
  const compile = defaultFactory(shared, options as never);
  return (route) => compile({ ...route, schema: leanForSerializer(route.schema) } as never);
}

export const buildSerializer = buildLeanSerializer as unknown as BuildSerializer;
