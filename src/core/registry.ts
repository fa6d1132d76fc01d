// One user's registry of distributions (WSL's per-user Lxss key): the records, the default, and nothing
// else. Every change is written whole and atomically, so a crash leaves the old file or the new one.

import { readStateFile, writeFileAtomic } from './atomic-file.js';

/** WSL's LxssDistributionState values that are ever written down; Running and the locks live in memory. */
export type StoredState = 'Installed' | 'Installing' | 'Uninstalling';

export interface DistributionRecord {
  readonly id: string;
  readonly name: string;
  readonly basePath: string;
  /** WSL's filesystem version (2: wslfs) */
  readonly version: 2;
  readonly state: StoredState;
  readonly defaultUid: number;
  /** LXSS_DISTRO_FLAGS_* bits */
  readonly flags: number;
  readonly defaultEnvironment: readonly string[];
  readonly createdAt: string;
  readonly sizeBytes: number;
  /** set once this service created `<basePath>/rootfs`: only then may a recovery remove it */
  readonly filesCreated?: boolean;
}

interface RegistryFile {
  version: 1;
  defaultDistribution: string | null;
  distributions: DistributionRecord[];
}

export class Registry {
  private records = new Map<string, DistributionRecord>();
  private defaultId: string | null = null;
  private saving: Promise<void> = Promise.resolve();

  private constructor(readonly file: string) {}

  static async open(file: string): Promise<Registry> {
    const registry = new Registry(file);
    const parsed = await readStateFile<RegistryFile>(
      file,
      'a registry of version 1',
      (content) => content.version === 1 && Array.isArray(content.distributions),
    );
    if (parsed !== undefined) {
      for (const record of parsed.distributions) registry.records.set(record.id, record);
      registry.defaultId = parsed.defaultDistribution;
    }
    return registry;
  }

  all(): DistributionRecord[] {
    return [...this.records.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  get(id: string): DistributionRecord | undefined {
    return this.records.get(id);
  }

  /** Case-insensitive, as WSL's GetDistributionId. */
  byName(name: string): DistributionRecord | undefined {
    const wanted = name.toLowerCase();
    return this.all().find((record) => record.name.toLowerCase() === wanted);
  }

  get defaultDistribution(): string | null {
    return this.defaultId !== null && this.records.has(this.defaultId) ? this.defaultId : null;
  }

  /** Changes are applied at once in memory (so checks that follow see them) and persisted in order. */
  put(record: DistributionRecord): Promise<void> {
    this.records.set(record.id, record);
    return this.save();
  }

  remove(id: string): Promise<void> {
    this.records.delete(id);
    if (this.defaultId === id) this.defaultId = null;
    return this.save();
  }

  setDefault(id: string | null): Promise<void> {
    this.defaultId = id;
    return this.save();
  }

  private save(): Promise<void> {
    const content: RegistryFile = {
      version: 1,
      defaultDistribution: this.defaultId,
      distributions: this.all(),
    };
    const text = `${JSON.stringify(content, null, 2)}\n`;
    const write = () => writeFileAtomic(this.file, text, 0o600);
    const next = this.saving.then(write, write);
    this.saving = next.catch(() => undefined);
    return next;
  }
}
