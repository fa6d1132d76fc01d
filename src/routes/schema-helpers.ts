// Helpers that make the route schemas a client contract: named components referred to by `$ref`, and string
// unions written as one `enum` (what generators turn into a string union type) rather than an anyOf of constants.

import { Type, type SchemaOptions, type Static, type TLiteral, type TSchema, type TUnion, type TUnsafe } from '@sinclair/typebox';

/** A `$ref` to a schema registered with app.addSchema (it must have an `$id`), typed as the schema itself. */
export function ref<T extends TSchema>(schema: T): TUnsafe<Static<T>> {
  if (typeof schema.$id !== 'string') throw new Error('ref() needs a schema with an $id');
  return Type.Unsafe<Static<T>>(Type.Ref(schema.$id));
}

type Literals<T extends readonly string[]> = { -readonly [K in keyof T]: TLiteral<T[K]> };

/**
 * One of these strings, as `{type: string, enum: [...]}`; the validator refuses others ("must be equal to one of
 * the allowed values"). Typed as the union of literals it replaces, which the route type provider understands.
 */
export function StringEnum<const T extends readonly string[]>(values: T, options: SchemaOptions = {}): TUnion<Literals<T>> {
  return { ...options, type: 'string', enum: [...values] } as unknown as TUnion<Literals<T>>;
}
