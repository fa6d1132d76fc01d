// Wire type of /v1/version.

import { Type } from '@sinclair/typebox';

export const VersionSchema = Type.Object(
  {
    version: Type.String({ description: 'lxssd release' }),
    apiVersion: Type.Literal('v1'),
    platform: Type.String(),
    arch: Type.String(),
    backend: Type.String({ description: 'what runs distributions, e.g. linux-namespaces' }),
    capabilities: Type.Array(Type.String(), { description: 'API features this server offers' }),
  },
  { $id: 'Version', additionalProperties: false },
);
