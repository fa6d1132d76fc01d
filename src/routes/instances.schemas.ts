// Wire types of instances, the VM and shutdown.

import { Type } from '@sinclair/typebox';
import { WarningsSchema } from './session.schemas.js';

export const InstanceSchema = Type.Object(
  {
    distributionId: Type.String({ format: 'uuid' }),
    name: Type.String(),
    state: Type.Literal('Running'),
    pid: Type.Integer({ description: 'host pid of the instance’s PID 1 (our /init)' }),
    startedAt: Type.String({ format: 'date-time' }),
    processCount: Type.Integer({ minimum: 0, description: 'processes in the instance, PID 1 included' }),
    hostname: Type.String(),
    warnings: WarningsSchema,
  },
  { additionalProperties: false },
);

export const VmSchema = Type.Object(
  {
    state: Type.Union([Type.Literal('Running'), Type.Literal('Stopped')]),
    pid: Type.Union([Type.Integer(), Type.Null()], { description: 'host pid of the holder of the user namespace' }),
    startedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    instances: Type.Array(InstanceSchema),
    warnings: WarningsSchema,
  },
  { additionalProperties: false },
);
