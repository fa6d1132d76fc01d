// Helpers that make the route schemas a client contract: named components referred to by `$ref`, and string
// unions written as one `enum` (what generators turn into a string union type) rather than an anyOf of constants.

import { Type, type TSchema } from '@sinclair/typebox';

/**
 * A `$ref` to a schema registered with app.addSchema (it must have an `$id`; see COMPONENT_SCHEMAS), typed as the
 * schema itself so the route type provider infers the same request and reply types as from the schema inline.
 */
export function ref<T extends TSchema>(schema: T, responseDescription?: string, headers?: Record<string, TSchema>): T {
  if (typeof schema.$id !== 'string') throw new Error('ref() needs a schema with an $id');
  // As a response: the description and headers of the response (@fastify/swagger puts them there; the $ref stays bare).
  const described = responseDescription === undefined ? {} : { description: responseDescription };
  return { ...Type.Ref(schema.$id), ...described, ...(headers ? { headers } : {}) } as unknown as T;
}

/** The Location header of a 201: the path of what was created. */
export const LOCATION_HEADER = {
  Location: Type.String({ description: 'the path of what was created, e.g. `/v1/processes/<id>`' }),
};

export { StringEnum } from '../core/string-enum.js';
