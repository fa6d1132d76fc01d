// Request validation: JSON bodies are taken as typed (a string is not a number), while path and query
// parameters, which are always text on the wire, are coerced. Unknown members are errors, never dropped.

import AjvCompiler from '@fastify/ajv-compiler';
import type { FastifySchemaCompiler, FastifyServerOptions } from 'fastify';

type BuildValidator = NonNullable<
  NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildValidator']
>;
type CompileRoute = FastifySchemaCompiler<unknown>;
type AjvOptions = { customOptions?: Record<string, unknown> } & Record<string, unknown>;

// The pool's published types describe a schema-taking compiler; at run time it takes a route definition.
const pool = AjvCompiler() as unknown as (externalSchemas: unknown, options: AjvOptions) => CompileRoute;

function buildRouteValidator(externalSchemas: unknown, ajvOptions: AjvOptions = {}): CompileRoute {
  const options = (coerceTypes: boolean | 'array'): AjvOptions => ({
    ...ajvOptions,
    customOptions: { ...ajvOptions.customOptions, removeAdditional: false, coerceTypes },
  });
  const forBody = pool(externalSchemas, options(false));
  const forText = pool(externalSchemas, options('array'));
  return (route) => {
    // Binary bodies (archives) are streams handed to the handler untouched; there is no JSON to check.
    if ((route.schema as { format?: string }).format === 'binary') return () => true;
    return route.httpPart === 'body' ? forBody(route) : forText(route);
  };
}

export const buildValidator = buildRouteValidator as unknown as BuildValidator;
