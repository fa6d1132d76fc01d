// Prints the types of the typed client for the OpenAPI document named on the command line. A binary body
// (`format: binary`) becomes what fetch can send and a streaming client reads: the document says "bytes", and
// a generated `string` would have every caller cast a file stream to it.
import { readFile } from 'node:fs/promises';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';

const BINARY = ts.factory.createUnionTypeNode(
  ['Blob', 'ReadableStream<Uint8Array>', 'Uint8Array'].map((name) =>
    ts.factory.createTypeReferenceNode(name),
  ),
);

const document = JSON.parse(await readFile(process.argv[2], 'utf8'));
const ast = await openapiTS(document, {
  alphabetize: true,
  // A property with a default is optional in a request: the server fills it in.
  defaultNonNullable: false,
  rootTypes: true,
  transform(schema) {
    if (schema.format === 'binary') return BINARY;
    return undefined;
  },
});
process.stdout.write(astToString(ast));
