// Wire types of /v1/distributions and /v1/default-distribution.

import { Type, type Static } from '@sinclair/typebox';
import { NextCursor } from './paging.js';
import { ref, StringEnum } from './schema-helpers.js';
import { TicketQueryProperty } from './tickets.schemas.js';

export const DistributionNameSchema = Type.String({
  pattern: '^[a-zA-Z0-9._-]{1,256}$',
  description: 'unique per user, case-insensitive (WSL’s rule); not `Legacy`',
  examples: ['Debian'],
});

const AbsolutePath = Type.String({ pattern: '^/', minLength: 1, maxLength: 4096, description: 'an absolute host path' });

export const DistributionFlagsSchema = Type.Object(
  {
    enableInterop: Type.Boolean({ description: 'LXSS_DISTRO_FLAGS_ENABLE_INTEROP (0x1)' }),
    appendNtPath: Type.Boolean({ description: 'LXSS_DISTRO_FLAGS_APPEND_NT_PATH (0x2)' }),
    enableDriveMounting: Type.Boolean({ description: 'LXSS_DISTRO_FLAGS_ENABLE_DRIVE_MOUNTING (0x4)' }),
  },
  { $id: 'DistributionFlags', additionalProperties: false },
);

export const DistributionSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    state: StringEnum(['Installed', 'Running', 'Installing', 'Uninstalling', 'Converting', 'Exporting'],
      { description: 'WSL’s LxssDistributionState' },
    ),
    version: Type.Integer({ description: 'WSL’s filesystem version (2)' }),
    isDefault: Type.Boolean(),
    basePath: Type.String({ description: 'the host folder holding the root filesystem (`<basePath>/rootfs`)' }),
    defaultUid: Type.Integer({ minimum: 0 }),
    flags: ref(DistributionFlagsSchema),
    defaultEnvironment: Type.Array(Type.String()),
    createdAt: Type.String({ format: 'date-time' }),
    sizeBytes: Type.Integer({ minimum: 0, description: 'size on disk when registered' }),
  },
  { $id: 'Distribution', additionalProperties: false },
);

export const ImportedDistributionSchema = Type.Object(
  {
    ...DistributionSchema.properties,
    warnings: Type.Array(Type.String(), {
      description:
        'what was imported other than as the archive said: owners the id mapping cannot hold (given the overflow id, set-id bits dropped), device nodes left out',
    }),
  },
  { $id: 'ImportedDistribution', additionalProperties: false },
);

export const DistributionListSchema = Type.Object(
  {
    distributions: Type.Array(ref(DistributionSchema)),
    defaultDistribution: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
    next: NextCursor,
  },
  { $id: 'DistributionList', additionalProperties: false },
);

export const DistroParams = Type.Object({
  distro: Type.String({
    minLength: 1,
    maxLength: 256,
    description:
      'the distribution’s id or name, or `@default` for your default distribution (WSL’s NULL GUID; 404 ' +
      'WSL_E_DEFAULT_DISTRO_NOT_FOUND when you have none). `@` is not a name character, so it never names another',
    examples: ['Debian', '@default'],
  }),
});

export const ImportQuery = Type.Object(
  {
    name: DistributionNameSchema,
    location: Type.Optional(AbsolutePath),
  },
  { additionalProperties: false },
);

/** A streamed archive body or response: not JSON, never validated as a schema. */
export const ArchiveBody = Type.String({ format: 'binary' });

/**
 * The import body's media types, octet-stream first: generators (openapi-typescript, OpenAPI::Client, ...) pick the
 * first one, and any archive is a valid octet-stream (the extractor tells plain, gzip and xz apart by their bytes).
 */
export const ARCHIVE_MEDIA_TYPES = ['application/octet-stream', 'application/x-tar', 'application/gzip', 'application/x-xz'];

export const PatchDistributionBody = Type.Object(
  {
    name: Type.Optional(DistributionNameSchema),
    defaultUid: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967294 })),
    defaultUser: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: 'looked up in the distribution’s /etc/passwd' }),
    ),
    flags: Type.Optional(Type.Partial(DistributionFlagsSchema)),
    defaultEnvironment: Type.Optional(
      Type.Array(Type.String({ pattern: '^[^=]+=', maxLength: 32768 }), { maxItems: 1024 }),
    ),
  },
  {
    $id: 'PatchDistributionRequest',
    additionalProperties: false,
    minProperties: 1,
    examples: [{ defaultUser: 'alice', flags: { enableInterop: false }, defaultEnvironment: ['LANG=C.UTF-8'] }],
  },
);
export type PatchDistributionBody = Static<typeof PatchDistributionBody>;

export const ExportQuery = Type.Object(
  {
    format: Type.Optional(
      StringEnum(['tar', 'tar.gz', 'tar.xz'], { default: 'tar' }),
    ),
    ticket: TicketQueryProperty,
  },
  { additionalProperties: false },
);

export const MoveBody = Type.Object({ location: AbsolutePath }, { $id: 'MoveRequest', additionalProperties: false, examples: [{ location: '/srv/lxssd/Debian' }] });

export const SetDefaultBody = Type.Object(
  { distro: Type.String({ minLength: 1, maxLength: 256, description: 'id or name' }) },
  { $id: 'SetDefaultRequest', additionalProperties: false, examples: [{ distro: 'Debian' }] },
);
