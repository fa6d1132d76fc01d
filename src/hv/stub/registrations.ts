// The stub's registrations: where a backend whose platform registers distributions itself (WSL's per-user Lxss
// key) keeps them, here one map per owner for the life of the process. Core uses a backend's store instead of
// its own registry file when there is one; nothing can fail to be made durable, so no change is ever taken back.

import { RegistrationSet } from '../registration-set.js';
import type { OwnerSid, RegistrationStore } from '../types.js';

/** Each owner's store, made on first use. */
export class StubRegistrations {
  private readonly stores = new Map<OwnerSid, RegistrationSet>();

  async of(owner: OwnerSid): Promise<RegistrationStore> {
    let store = this.stores.get(owner);
    if (!store) this.stores.set(owner, (store = new RegistrationSet()));
    return store;
  }
}
