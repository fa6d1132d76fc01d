// The named schemas of the API (OpenAPI components/schemas): each has an `$id`, is registered once with
// app.addSchema, and routes point to it with ref(), so generated clients get one named type per resource and
// body instead of an anonymous copy per operation. Order: a schema after the ones it refers to.

import type { TSchema } from '@sinclair/typebox';
import {
  DistributionFlagsSchema,
  DistributionListSchema,
  DistributionSchema,
  ImportedDistributionSchema,
  MoveBody,
  PatchDistributionBody,
  SetDefaultBody,
} from './distributions.schemas.js';
import { EVENT_VARIANTS, EventSchema } from './events.schemas.js';
import { InstanceSchema, VmResourcesSchema, VmSchema } from './instances.schemas.js';
import { CreateShareBody, ShareListSchema, ShareSchema } from './mounts.schemas.js';
import { ErrorCodeSchema, ProblemSchema } from './problem.schemas.js';
import {
  CreateProcessBody,
  ProcessListSchema,
  ProcessSchema,
  ResizeBody,
  RunBody,
  RunResultSchema,
  SignalBody,
} from './processes.schemas.js';
import { CallerSessionSchema, SessionListSchema, SessionSchema } from './session.schemas.js';
import { DashboardTokenSchema, LoginCodeSchema, LoginExchangeBody, TicketBody, TicketSchema } from './tickets.schemas.js';
import { MintedTokenSchema, MintTokenBody, TokenInfoSchema, TokenListSchema } from './tokens.schemas.js';
import { VersionSchema } from './version.schemas.js';

export const COMPONENT_SCHEMAS: readonly TSchema[] = [
  ErrorCodeSchema,
  ProblemSchema,
  VersionSchema,
  SessionSchema,
  CallerSessionSchema,
  SessionListSchema,
  TokenInfoSchema,
  MintTokenBody,
  MintedTokenSchema,
  TokenListSchema,
  TicketBody,
  TicketSchema,
  LoginCodeSchema,
  LoginExchangeBody,
  DashboardTokenSchema,
  DistributionFlagsSchema,
  DistributionSchema,
  ImportedDistributionSchema,
  DistributionListSchema,
  PatchDistributionBody,
  MoveBody,
  SetDefaultBody,
  InstanceSchema,
  VmResourcesSchema,
  VmSchema,
  ShareSchema,
  ShareListSchema,
  CreateShareBody,
  CreateProcessBody,
  ProcessSchema,
  ProcessListSchema,
  SignalBody,
  ResizeBody,
  RunBody,
  RunResultSchema,
  ...EVENT_VARIANTS,
  EventSchema,
];
