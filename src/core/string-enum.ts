// String unions written as one `enum` (what generators turn into a string union type) rather than an anyOf of
// constants: used by the wire schemas of routes and by the event schemas core builds its types from.

import { Kind, Type, TypeRegistry, type SchemaOptions, type TLiteral, type TUnion } from '@sinclair/typebox';

type Literals<T extends readonly string[]> = { -readonly [K in keyof T]: TLiteral<T[K]> };

/**
 * One of these strings, as `{type: string, enum: [...]}`; the validator refuses others ("must be equal to one of
 * the allowed values"). Typed as the union of literals it replaces, which the route type provider understands.
 */
export function StringEnum<const T extends readonly string[]>(values: T, options: SchemaOptions = {}): TUnion<Literals<T>> {
  return Type.Unsafe({ ...options, [Kind]: 'StringEnum', type: 'string', enum: [...values] }) as unknown as TUnion<Literals<T>>;
}

// TypeBox's own checks (Value.Check, as in test/helpers/schema.ts) know the kind too; JSON never shows it.
if (!TypeRegistry.Has('StringEnum')) {
  TypeRegistry.Set<{ enum: string[] }>('StringEnum', (schema, value) => typeof value === 'string' && schema.enum.includes(value));
}
