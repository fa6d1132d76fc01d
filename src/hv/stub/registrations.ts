// The stub's registrations: where a backend whose platform registers distributions itself (WSL's per-user Lxss
// key) keeps them, here one map per owner for the life of the process. Core uses a backend's store instead of
// its own registry file when there is one; nothing can fail to be made durable, so no change is ever taken back.

import type { OwnerSid, RegistrationRecord, RegistrationStore } from '../types.js';

export class StubRegistrationStore implements RegistrationStore {
  private readonly records = new Map<string, RegistrationRecord>();
  private defaultId: string | null = null;

  all(): RegistrationRecord[] {
    return [...this.records.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  get(id: string): RegistrationRecord | undefined {
    return this.records.get(id);
  }

  byName(name: string): RegistrationRecord | undefined {
    const wanted = name.toLowerCase();
    return this.all().find((record) => record.name.toLowerCase() === wanted);
  }

  /** null once the record it named is gone, as a dangling default means none */
  get defaultDistribution(): string | null {
    return this.defaultId !== null && this.records.has(this.defaultId) ? this.defaultId : null;
  }

  async put(record: RegistrationRecord): Promise<void> {
    this.records.set(record.id, record);
  }

  async remove(id: string): Promise<void> {
    this.records.delete(id);
    if (this.defaultId === id) this.defaultId = null;
  }

  async setDefault(id: string | null): Promise<void> {
    this.defaultId = id;
  }
}

/** Each owner's store, made on first use. */
export class StubRegistrations {
  private readonly stores = new Map<OwnerSid, StubRegistrationStore>();

  async of(owner: OwnerSid): Promise<RegistrationStore> {
    let store = this.stores.get(owner);
    if (!store) this.stores.set(owner, (store = new StubRegistrationStore()));
    return store;
  }
}
