// Wire types of /v1/distributions/{distro}/mounts.

import { Type } from '@sinclair/typebox';
import { ref, StringEnum } from './schema-helpers.js';

const InsidePath = Type.String({
  pattern: '^/(?!.*(^|/)\\.\\.(/|$)).*$',
  maxLength: 4096,
  description: 'an absolute path inside the distribution, without `..`',
});

export const ShareSchema = Type.Object(
  {
    hostPath: Type.String(),
    target: Type.String(),
    readOnly: Type.Boolean(),
    origin: StringEnum(['automount', 'runtime'], {
      description: 'automount: shared at start from the service configuration; runtime: added through the API',
    }),
  },
  { $id: 'Mount', additionalProperties: false },
);

export const ShareListSchema = Type.Object({ mounts: Type.Array(ref(ShareSchema)) }, { $id: 'MountList', additionalProperties: false });

export const CreateShareBody = Type.Object(
  {
    hostPath: Type.String({ pattern: '^/', maxLength: 4096, description: 'a host folder the caller may read' }),
    target: InsidePath,
    readOnly: Type.Optional(Type.Boolean({ default: false })),
  },
  { $id: 'MountRequest', additionalProperties: false, examples: [{ hostPath: '/tmp/shared', target: '/mnt/shared', readOnly: true }] },
);

export const ShareTargetQuery = Type.Object({ target: InsidePath }, { additionalProperties: false });
