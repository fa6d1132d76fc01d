// One user's registry of distributions (WSL's per-user Lxss key), kept by the service itself for backends whose
// platform keeps none (the contract's RegistrationStore): the records, the default, and nothing else. Every
// change is written whole and atomically, so a crash leaves the old file or the new one; a change whose write
// fails (a full disk) is taken back in memory too, so the registry stays what the file says.

import type { RegistrationRecord as DistributionRecord } from '../hv/index.js';
import { RegistrationSet } from '../hv/registration-set.js';
import { readStateFile, writeFileAtomic } from './atomic-file.js';

export type { DistributionRecord };

/** WSL's LxssDistributionState values that are ever written down; Running and the locks live in memory. */
export type StoredState = DistributionRecord['state'];

interface RegistryFile {
  version: 1;
  defaultDistribution: string | null;
  distributions: DistributionRecord[];
}

const STATES: readonly string[] = ['Installed', 'Installing', 'Uninstalling'];

/** What is wrong with a parsed registry file, or undefined; every record is checked, so none can crash a request. */
function registryFault(value: unknown): string | undefined {
  const content = value as Partial<RegistryFile>;
  if (!Array.isArray(content.distributions)) return '"distributions" is not a list';
  if (content.defaultDistribution !== null && typeof content.defaultDistribution !== 'string') {
    return '"defaultDistribution" is neither an id nor null';
  }
  const ids = new Set<string>();
  for (const [index, item] of (content.distributions as unknown[]).entries()) {
    const record = (item ?? {}) as Partial<DistributionRecord>;
    const fault =
      typeof item !== 'object' || item === null ? 'is not an object'
      : typeof record.id !== 'string' || !/^[0-9a-f-]{36}$/.test(record.id) ? 'has no valid "id"'
      : typeof record.name !== 'string' || record.name === '' ? 'has no "name"'
      : typeof record.basePath !== 'string' || !record.basePath.startsWith('/') ? 'has no absolute "basePath"'
      : typeof record.state !== 'string' || !STATES.includes(record.state) ? 'has no valid "state"'
      : !Number.isSafeInteger(record.defaultUid) || (record.defaultUid as number) < 0 ? 'has no valid "defaultUid"'
      : !Number.isSafeInteger(record.flags) ? 'has no valid "flags"'
      : !Array.isArray(record.defaultEnvironment) || record.defaultEnvironment.some((entry) => typeof entry !== 'string')
        ? 'has no valid "defaultEnvironment"'
      : typeof record.createdAt !== 'string' ? 'has no "createdAt"'
      : typeof record.sizeBytes !== 'number' ? 'has no "sizeBytes"'
      : ids.has(record.id) ? 'repeats an id'
      : undefined;
    if (fault !== undefined) return `distribution ${index} ${fault}`;
    ids.add(record.id as string);
  }
  return undefined;
}

export class Registry extends RegistrationSet {
  private saving: Promise<void> = Promise.resolve();

  private constructor(readonly file: string) {
    super();
  }

  /** Opens `file` (none yet: empty); a damaged file is a StateFileError naming it and the fault. */
  static async open(file: string): Promise<Registry> {
    const registry = new Registry(file);
    const parsed = await readStateFile<RegistryFile>(file, 'a distribution registry', registryFault);
    if (parsed !== undefined) {
      for (const record of parsed.distributions) registry.records.set(record.id, record);
      registry.defaultId = parsed.defaultDistribution;
    }
    return registry;
  }

  /**
   * Changes are applied at once in memory (so checks that follow see them, e.g. a second import of the same
   * name) and persisted in order; one whose write fails is taken back, unless a later change replaced it.
   */
  override put(record: DistributionRecord): Promise<void> {
    const previous = this.records.get(record.id);
    this.records.set(record.id, record);
    return this.save(() => {
      if (this.records.get(record.id) !== record) return;
      if (previous) this.records.set(record.id, previous);
      else this.records.delete(record.id);
    });
  }

  override remove(id: string): Promise<void> {
    const previous = this.records.get(id);
    const wasDefault = this.defaultId === id;
    this.records.delete(id);
    if (wasDefault) this.defaultId = null;
    return this.save(() => {
      if (previous && !this.records.has(id)) this.records.set(id, previous);
      if (wasDefault && this.defaultId === null) this.defaultId = id;
    });
  }

  override setDefault(id: string | null): Promise<void> {
    const previous = this.defaultId;
    this.defaultId = id;
    return this.save(() => {
      if (this.defaultId === id) this.defaultId = previous;
    });
  }

  private save(takeBack: () => void): Promise<void> {
    // The text is made when its turn comes, so it never carries a change an earlier failed write took back.
    const write = () => {
      const content: RegistryFile = { version: 1, defaultDistribution: this.defaultId, distributions: this.all() };
      return writeFileAtomic(this.file, `${JSON.stringify(content, null, 2)}\n`, 0o600);
    };
    const next = this.saving.then(write, write).catch((error: unknown) => {
      takeBack();
      throw error;
    });
    this.saving = next.catch(() => undefined);
    return next;
  }
}
