// Wire types of instances, the VM and shutdown.

import { Type } from '@sinclair/typebox';
import { ref, StringEnum } from './schema-helpers.js';
import { WarningsSchema } from './session.schemas.js';

export const InstanceSchema = Type.Object(
  {
    distributionId: Type.String({ format: 'uuid' }),
    name: Type.String(),
    state: Type.Literal('Running'),
    pid: Type.Union([Type.Integer(), Type.Null()], {
      description: 'host pid of the instance’s PID 1 (our /init); null where the host does not tell',
    }),
    startedAt: Type.String({ format: 'date-time' }),
    processCount: Type.Integer({ minimum: 0, description: 'processes in the instance, PID 1 included' }),
    hostname: Type.String(),
    warnings: WarningsSchema,
  },
  { $id: 'Instance', additionalProperties: false },
);

const Count = (description: string) => Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description });

export const VmResourcesSchema = Type.Object(
  {
    limited: Type.Boolean({
      description: 'true: the VM runs in a cgroup of its own with these limits; false: the host could not confine it (see warnings)',
    }),
    warnings: Type.Array(Type.String(), { description: 'limits that are not applied, and why' }),
    processes: Type.Object(
      {
        current: Count('processes and threads of the VM now'),
        max: Count('the most it may have at once ([wsl2] maxPids)'),
        maxReached: Count('times a process could not start because the VM was at max (pids.events max)'),
      },
      { additionalProperties: false },
    ),
    memory: Type.Object(
      {
        currentBytes: Count('memory the VM uses now'),
        maxBytes: Count('its limit ([wsl2] memory)'),
        swapMaxBytes: Count('swap it may use besides ([wsl2] swap)'),
        maxReached: Count('times its use reached maxBytes (memory.events max; cgroup v1: memory.failcnt)'),
        oomKills: Count('processes killed because the VM was out of memory (oom_kill)'),
      },
      { additionalProperties: false },
    ),
    cpus: Type.Union([Type.Number({ minimum: 0 }), Type.Null()], {
      description: "processors' worth of CPU time the VM may use ([wsl2] processors)",
    }),
  },
  { $id: 'VmResources', additionalProperties: false },
);

export const VmSchema = Type.Object(
  {
    state: StringEnum(['Running', 'Stopped']),
    pid: Type.Union([Type.Integer(), Type.Null()], { description: 'host pid of the holder of the user namespace' }),
    startedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    resources: Type.Union([ref(VmResourcesSchema), Type.Null()], {
      description: "the VM's limits and use of them (its cgroup); null while it is stopped",
    }),
    instances: Type.Array(ref(InstanceSchema)),
    warnings: WarningsSchema,
  },
  { $id: 'Vm', additionalProperties: false },
);
