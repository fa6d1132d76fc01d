// Registered distributions held in memory, as a RegistrationStore: what a backend's own store (the stub's) is
// whole, and what the service's registry file (src/core/registry.ts) keeps in memory beside its file.

import type { RegistrationRecord, RegistrationStore } from './types.js';

export class RegistrationSet implements RegistrationStore {
  protected readonly records = new Map<string, RegistrationRecord>();
  protected defaultId: string | null = null;

  all(): RegistrationRecord[] {
    return [...this.records.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  get(id: string): RegistrationRecord | undefined {
    return this.records.get(id);
  }

  /** Case-insensitive, as WSL's GetDistributionId. */
  byName(name: string): RegistrationRecord | undefined {
    const wanted = name.toLowerCase();
    return this.all().find((record) => record.name.toLowerCase() === wanted);
  }

  /** null once the record it named is gone: a dangling default means none */
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
