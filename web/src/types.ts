// The API's types, from the document's generated client (src/client/openapi.ts): one source of truth.

import type { components } from '../../src/client/openapi.js';

type Schemas = components['schemas'];
export type Distribution = Schemas['Distribution'];
export type Process = Schemas['Process'];
export type Vm = Schemas['Vm'];
export type Instance = Schemas['Instance'];
export type Mount = Schemas['Mount'];
export type Session = Schemas['CallerSession'];
export type LxssEvent = Schemas['Event'];
