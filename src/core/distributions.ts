// One user's distributions: WSL's RegisterDistribution, EnumerateDistributions, Get/ConfigureDistribution,
// UnregisterDistribution, ExportDistribution, Get/SetDefaultDistribution and MoveDistribution. Decides the
// rules (names, states, locks, the default); the files themselves are the hypervisor layer's job.

import { randomUUID } from 'node:crypto';
import { isAbsolute, join, posix, relative, resolve } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import {
  type ArchiveFormat,
  type DistroFiles,
  HvError,
  type OwnerSid,
  type RegistrationRecord as DistributionRecord,
  type RegistrationStore,
} from '../hv/index.js';
import { fromHv, LxssError } from './errors.js';
import { aboutDistribution, type EventBus } from './events.js';
import { UndoStack } from './undo-stack.js';

/** WSL's LxssDistributionState, less Invalid. */
export type DistributionState = 'Installed' | 'Running' | 'Installing' | 'Uninstalling' | 'Converting' | 'Exporting';
type LockState = 'Installing' | 'Uninstalling' | 'Converting' | 'Exporting';

/** LXSS_DISTRO_FLAGS_* as named booleans. */
export const DISTRO_FLAG_BITS = { enableInterop: 0x1, appendNtPath: 0x2, enableDriveMounting: 0x4 } as const;
export type DistributionFlags = Record<keyof typeof DISTRO_FLAG_BITS, boolean>;
const LXSS_DISTRO_FLAGS_DEFAULT = 0x7;

/** WSL's LXSS_DISTRO_DEFAULT_ENVIRONMENT. */
const DEFAULT_ENVIRONMENT = [
  'HOSTTYPE=x86_64',
  'LANG=en_US.UTF-8',
  'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/games:/usr/local/games',
  'TERM=xterm-256color',
];

const NAME_PATTERN = /^[a-zA-Z0-9._-]{1,256}$/;
/**
 * Stands for the caller's default distribution wherever an id or a name is taken (WSL's NULL GUID). `@` is not
 * a name character, so no name can ever be this.
 */
export const DEFAULT_DISTRIBUTION = '@default';
const GUID_PATTERN = /^\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?$/i;

export interface DistributionView {
  id: string;
  name: string;
  state: DistributionState;
  version: number;
  isDefault: boolean;
  basePath: string;
  defaultUid: number;
  flags: DistributionFlags;
  defaultEnvironment: string[];
  createdAt: string;
  sizeBytes: number;
}

export interface DistributionPatch {
  name?: string;
  defaultUid?: number;
  defaultUser?: string;
  flags?: Partial<DistributionFlags>;
  defaultEnvironment?: string[];
}

/** What distributions need to know of running instances (the Instances manager). */
export interface DistributionRuntime {
  isRunning(distributionId: string): boolean;
  /** stops the distribution if it runs; fine when it does not */
  terminate(distributionId: string): Promise<void>;
}

export interface DistributionsOptions {
  /** whose they are: every file operation is made as this user */
  owner: OwnerSid;
  /** where this user's distributions live when no location is given */
  defaultFolder: string;
  maxImportBytes: number;
  maxImportEntries: number;
}

/** Progress events come at most this often per transfer ("a few per second"). */
const PROGRESS_EVERY_MS = 250;

/** Calls `report` at most every PROGRESS_EVERY_MS however often it is asked. */
function throttled(report: () => void): () => void {
  let last = 0;
  return () => {
    const now = Date.now();
    if (now - last < PROGRESS_EVERY_MS) return;
    last = now;
    report();
  };
}

/** The answer when a distribution's root filesystem was removed behind the service's back. */
export function filesMissing(distribution: { name: string; basePath: string }): LxssError {
  return new LxssError(
    'LXSSD_E_DISTRO_FILES_MISSING',
    `the root filesystem of ${distribution.name} (${posix.join(distribution.basePath, 'rootfs')}) is missing or cannot be entered; restore it, or unregister the distribution`,
  );
}

export function validateDistributionName(name: string): void {
  // "." and ".." would be rewritten away in a URL path, leaving the distribution unreachable by name.
  if (!NAME_PATTERN.test(name) || name === '.' || name === '..') {
    throw new LxssError('E_INVALIDARG', `"${name}" is not a valid distribution name: use 1 to 256 of a-z A-Z 0-9 . _ - (not "." or "..")`);
  }
  if (name.toLowerCase() === 'legacy') throw new LxssError('E_INVALIDARG', '"Legacy" is reserved');
  // Routes take an id or a name: a name that reads as an id would reach (and could delete) another distribution.
  if (GUID_PATTERN.test(name)) {
    throw new LxssError('E_INVALIDARG', `"${name}" is shaped like a distribution id (a GUID); choose a name that is not`);
  }
}

/** Whether `inner` is `outer` or a path below it (both absolute and normalised). */
function within(outer: string, inner: string): boolean {
  const path = relative(outer, inner);
  return path === '' || (!path.startsWith('..') && !isAbsolute(path));
}

function flagsOf(bits: number): DistributionFlags {
  return {
    enableInterop: (bits & DISTRO_FLAG_BITS.enableInterop) !== 0,
    appendNtPath: (bits & DISTRO_FLAG_BITS.appendNtPath) !== 0,
    enableDriveMounting: (bits & DISTRO_FLAG_BITS.enableDriveMounting) !== 0,
  };
}

export class Distributions {
  private readonly locks = new Map<string, LockState>();
  /** bytes read and unpacked so far by each import under way, for its view and its progress events */
  private readonly installing = new Map<string, { read: number; written: number }>();

  constructor(
    private readonly registry: RegistrationStore,
    private readonly files: DistroFiles,
    private readonly runtime: DistributionRuntime,
    private readonly events: EventBus,
    private readonly options: DistributionsOptions,
  ) {}

  /** What starting an instance needs; refused while the distribution is busy (installing, exporting, ...). */
  startable(idOrName: string): { id: string; name: string; basePath: string } {
    const record = this.resolve(idOrName);
    this.ensureUnlocked(record);
    return { id: record.id, name: record.name, basePath: record.basePath };
  }

  /** The distribution's id, whatever its state; for routes that only look. */
  idOf(idOrName: string): { id: string; name: string } {
    const record = this.resolve(idOrName);
    return { id: record.id, name: record.name };
  }

  /**
   * Finishes what a killed service left half done: an Installing or Uninstalling record is removed with its
   * files. Runs before the registry is used.
   */
  async recover(): Promise<string[]> {
    const recovered: string[] = [];
    for (const record of this.registry.all()) {
      if (record.state === 'Installed') continue;
      // A record written just before the import claimed its location must not cost what was there before.
      if (record.filesCreated) {
        try {
          await this.files.remove(this.options.owner, record.basePath);
        } catch {
          // Kept (as Uninstalling) so a later start or a DELETE tries again; nothing is left unrecorded.
          await this.registry.put({ ...record, state: 'Uninstalling' });
          continue;
        }
      }
      await this.registry.remove(record.id);
      recovered.push(record.name);
    }
    return recovered;
  }

  list(): DistributionView[] {
    return this.registry.all().map((record) => this.view(record));
  }

  /** The current name of distribution `id`, or undefined once it is unregistered. */
  nameOf(id: string): string | undefined {
    return this.registry.get(id)?.name;
  }

  get(idOrName: string): DistributionView {
    return this.view(this.resolve(idOrName));
  }

  getDefault(): DistributionView {
    return this.view(this.defaultRecord());
  }

  private defaultRecord(): DistributionRecord {
    const id = this.registry.defaultDistribution;
    const record = id === null ? undefined : this.registry.get(id);
    if (!record) throw new LxssError('WSL_E_DEFAULT_DISTRO_NOT_FOUND', 'there is no default distribution (you have none registered, or none is set)');
    return record;
  }

  async setDefault(idOrName: string): Promise<DistributionView> {
    const record = this.resolve(idOrName);
    // Exporting and converting distributions are installed; one still arriving or going away is not.
    const state = this.stateOf(record);
    if (state === 'Installing' || state === 'Uninstalling') {
      throw new LxssError('E_ILLEGAL_STATE_CHANGE', `${record.name} is ${state}; try again when it is done`);
    }
    if (this.registry.defaultDistribution !== record.id) {
      await this.registry.setDefault(record.id);
      this.events.emit({ type: 'default-distribution-changed', ...aboutDistribution(record) });
    }
    return this.view(record);
  }

  /**
   * RegisterDistribution: extracts `archive` as a new distribution; nothing of it remains if this fails.
   * `warnings` says what was imported other than as the archive said.
   */
  async import(name: string, archive: Readable, location?: string): Promise<DistributionView & { warnings: string[] }> {
    validateDistributionName(name);
    const existing = this.registry.byName(name);
    if (existing) {
      if (this.stateOf(existing) === 'Installed' || this.stateOf(existing) === 'Running') {
        throw new LxssError('ERROR_ALREADY_EXISTS', `a distribution named ${existing.name} already exists`);
      }
      throw new LxssError('E_ILLEGAL_STATE_CHANGE', `${existing.name} is ${this.stateOf(existing)}`);
    }
    const id = randomUUID();
    const basePath = location === undefined ? join(this.options.defaultFolder, id) : resolve(location);
    this.ensureNoNesting(basePath, this.registry.all());
    const record: DistributionRecord = {
      id,
      name,
      basePath,
      version: 2,
      state: 'Installing',
      defaultUid: 0,
      flags: LXSS_DISTRO_FLAGS_DEFAULT,
      defaultEnvironment: DEFAULT_ENVIRONMENT,
      createdAt: new Date().toISOString(),
      sizeBytes: 0,
    };
    // Written before any file exists, so a restart after a crash knows what to clean up.
    this.locks.set(id, 'Installing');
    const undo = new UndoStack();
    undo.push(() => this.locks.delete(id));
    let warnings: string[] = [];
    try {
      await this.registry.put(record);
      undo.push(() => this.registry.remove(id));
      if (location === undefined) await this.files.ensureOwnedFolder(this.options.owner, this.options.defaultFolder);
      await this.files.create(this.options.owner, basePath);
      undo.push(() => this.files.remove(this.options.owner, basePath));
      await this.registry.put({ ...record, filesCreated: true });
      const progress = { read: 0, written: 0 };
      const tell = throttled(() =>
        this.events.emit({ type: 'distribution-import-progress', ...aboutDistribution({ id, name }), bytesRead: progress.read, bytesWritten: progress.written }),
      );
      this.installing.set(id, progress);
      undo.push(() => this.installing.delete(id));
      const imported = await this.files.importArchive(this.options.owner, basePath, archive, {
        maxBytes: this.options.maxImportBytes,
        maxEntries: this.options.maxImportEntries,
        onProgress: ({ read, written }) => {
          progress.read = read;
          progress.written = written;
          tell();
        },
      });
      warnings = [...imported.warnings];
      const sizeBytes = await this.files.sizeOnDisk(this.options.owner, basePath);
      await this.registry.put({ ...record, filesCreated: true, state: 'Installed', sizeBytes });
    } catch (error) {
      await undo.unwind();
      const failure = fromHv(error);
      const { code, detail } =
        failure instanceof LxssError ? failure : { code: 'WSL_E_IMPORT_FAILED' as const, detail: (failure as Error).message ?? String(failure) };
      this.events.emit({ type: 'distribution-import-failed', ...aboutDistribution({ id, name }), code, detail });
      throw failure;
    }
    this.installing.delete(id);
    this.locks.delete(id);
    this.events.emit({ type: 'distribution-registered', ...aboutDistribution({ id, name }) });
    if (this.registry.defaultDistribution === null) await this.setDefault(id);
    return { ...this.get(id), warnings };
  }

  async configure(idOrName: string, patch: DistributionPatch): Promise<DistributionView> {
    const record = this.resolve(idOrName);
    this.ensureUnlocked(record);
    if (patch.defaultUid !== undefined && patch.defaultUser !== undefined) {
      throw new LxssError('E_INVALIDARG', 'give defaultUid or defaultUser, not both');
    }
    const changed: string[] = [];
    let next: DistributionRecord = record;
    if (patch.name !== undefined && patch.name !== record.name) {
      validateDistributionName(patch.name);
      const holder = this.registry.byName(patch.name);
      if (holder && holder.id !== record.id) {
        throw new LxssError('ERROR_ALREADY_EXISTS', `a distribution named ${holder.name} already exists`);
      }
      next = { ...next, name: patch.name };
      changed.push('name');
    }
    if (patch.defaultUser !== undefined) {
      const uid = (await this.files.findUser(this.options.owner, record.basePath, patch.defaultUser))?.uid;
      if (uid === undefined) {
        throw new LxssError('WSL_E_USER_NOT_FOUND', `${record.name} has no user "${patch.defaultUser}" in /etc/passwd`);
      }
      next = { ...next, defaultUid: uid };
      changed.push('defaultUid');
    } else if (patch.defaultUid !== undefined) {
      next = { ...next, defaultUid: patch.defaultUid };
      changed.push('defaultUid');
    }
    if (patch.flags !== undefined) {
      let bits = next.flags;
      for (const [flag, value] of Object.entries(patch.flags) as Array<[keyof DistributionFlags, boolean | undefined]>) {
        if (value === undefined) continue;
        bits = value ? bits | DISTRO_FLAG_BITS[flag] : bits & ~DISTRO_FLAG_BITS[flag];
      }
      next = { ...next, flags: bits };
      changed.push('flags');
    }
    if (patch.defaultEnvironment !== undefined) {
      next = { ...next, defaultEnvironment: [...patch.defaultEnvironment] };
      changed.push('defaultEnvironment');
    }
    // Re-checked after the awaits above: another request may have locked or renamed meanwhile.
    this.ensureUnlocked(record);
    if (next.name !== record.name) {
      const holder = this.registry.byName(next.name);
      if (holder && holder.id !== record.id) {
        throw new LxssError('ERROR_ALREADY_EXISTS', `a distribution named ${holder.name} already exists`);
      }
    }
    if (changed.length > 0) {
      await this.registry.put(next);
      this.events.emit({ type: 'distribution-configured', distributionId: record.id, name: next.name, changed });
    }
    return this.view(next);
  }

  /** UnregisterDistribution: removes the record and the files; the default moves to another distribution. */
  async unregister(idOrName: string): Promise<void> {
    const record = this.resolve(idOrName);
    // A stored Uninstalling record with no operation under way is a removal that failed before: retry it.
    if (!(record.state === 'Uninstalling' && !this.locks.has(record.id))) this.ensureUnlocked(record);
    this.locks.set(record.id, 'Uninstalling');
    try {
      await this.runtime.terminate(record.id);
      await this.registry.put({ ...record, state: 'Uninstalling' });
      try {
        await this.files.remove(this.options.owner, record.basePath);
      } catch (error) {
        // Files that are gone all the same (only an emptied folder stayed) finish the removal; else roll back.
        if (await this.files.present(this.options.owner, record.basePath).catch(() => true)) throw await this.restored(record, error);
      }
      const wasDefault = this.registry.defaultDistribution === record.id;
      try {
        await this.registry.remove(record.id);
      } catch (error) {
        const code = error instanceof LxssError ? error.code : 'E_UNEXPECTED';
        throw new LxssError(
          code,
          `the files of ${record.name} are removed, but its record could not be (${error instanceof LxssError ? error.detail : String(error)}): it is listed as Uninstalling until you unregister it again or the service restarts, either of which finishes the removal`,
        );
      }
      this.events.emit({ type: 'distribution-unregistered', ...aboutDistribution(record) });
      if (wasDefault) {
        const heir = this.registry.all().find((other) => other.state === 'Installed');
        // The unregister itself is done: a default that cannot be written now is simply unset (as on disk).
        const written = await this.registry.setDefault(heir?.id ?? null).then(() => true, () => false);
        if (written) {
          this.events.emit({ type: 'default-distribution-changed', distributionId: heir?.id ?? null, name: heir?.name ?? null });
        }
      }
    } catch (error) {
      throw fromHv(error);
    } finally {
      this.locks.delete(record.id);
    }
  }

  /**
   * After a failed removal of its files: a distribution whose root filesystem is still there is put back as
   * it was (Installed; some files may be gone), never left Uninstalling; the error says so.
   */
  private async restored(record: DistributionRecord, error: unknown): Promise<LxssError> {
    const reason = error instanceof Error ? error.message : String(error);
    const restored: DistributionRecord = { ...record, state: record.state === 'Uninstalling' ? 'Installed' : record.state };
    const rolledBack = await this.registry.put(restored).then(() => true, () => false);
    const failure = fromHv(error);
    const code = failure instanceof LxssError ? failure.code : 'E_ILLEGAL_STATE_CHANGE';
    const now = rolledBack
      ? `it stays registered (${restored.state}), though some of its files may be gone`
      : 'its record could not be put back either, so it is listed as Uninstalling';
    return new LxssError(
      code === 'E_UNEXPECTED' ? 'E_ILLEGAL_STATE_CHANGE' : code,
      `${record.name} could not be unregistered: its files could not all be removed (${reason}); ${now} — fix the cause and unregister it again`,
    );
  }

  /** ExportDistribution: a tar stream of the root filesystem; the distribution stays Exporting until it ends. */
  async export(idOrName: string, format: ArchiveFormat): Promise<{ name: string; stream: Readable }> {
    const record = this.resolve(idOrName);
    this.ensureUnlocked(record);
    this.locks.set(record.id, 'Exporting');
    let stream: Readable;
    try {
      // As WSL's ExportDistribution: a running distribution is stopped first, so the tar is consistent.
      await this.runtime.terminate(record.id);
      stream = await this.files.exportArchive(this.options.owner, record.basePath, format);
    } catch (error) {
      this.locks.delete(record.id);
      if (error instanceof HvError && error.kind === 'files-missing') throw filesMissing(record);
      throw fromHv(error, { fallback: 'WSL_E_EXPORT_FAILED' });
    }
    // Counted on its way out, for the progress events; whoever stops reading it ends the export itself.
    let written = 0;
    const tell = throttled(() =>
      this.events.emit({ type: 'distribution-export-progress', ...aboutDistribution(record), bytesWritten: written }),
    );
    const source = stream;
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        written += chunk.length;
        tell();
        callback(null, chunk);
      },
    });
    source.once('error', (error) => counted.destroy(error));
    counted.once('close', () => {
      source.destroy();
      this.locks.delete(record.id);
    });
    return { name: record.name, stream: source.pipe(counted) };
  }

  /** MoveDistribution: the files go to `location`, which becomes the base path. */
  async move(idOrName: string, location: string): Promise<DistributionView> {
    const record = this.resolve(idOrName);
    this.ensureUnlocked(record);
    const target = resolve(location);
    if (target === record.basePath) return this.view(record);
    if (this.runtime.isRunning(record.id)) {
      throw new LxssError('WSL_E_DISTRO_NOT_STOPPED', `${record.name} is running; terminate it before moving it`);
    }
    // Its own folder counts too: a move into itself could never finish.
    this.ensureNoNesting(target, this.registry.all());
    // WSL has no state for a move; Converting is the nearest "busy rewriting its storage".
    this.locks.set(record.id, 'Converting');
    let moved: DistributionRecord;
    try {
      await this.files.move(this.options.owner, record.basePath, target);
      moved = { ...record, basePath: target };
      await this.registry.put(moved);
    } catch (error) {
      throw fromHv(error);
    } finally {
      this.locks.delete(record.id);
    }
    this.events.emit({ type: 'distribution-configured', ...aboutDistribution(record), changed: ['basePath'] });
    return this.view(moved);
  }

  /**
   * Distribution folders never nest: removing or moving the outer one would take the inner one's files with
   * it, without its record.
   */
  private ensureNoNesting(location: string, records: DistributionRecord[]): void {
    for (const other of records) {
      if (within(other.basePath, location) || within(location, other.basePath)) {
        const where = other.basePath === location ? 'is' : within(other.basePath, location) ? 'is inside' : 'holds';
        throw new LxssError('ERROR_FILE_EXISTS', `${location} ${where} the folder of ${other.name} (${other.basePath})`);
      }
    }
  }

  private resolve(idOrName: string): DistributionRecord {
    if (idOrName.toLowerCase() === DEFAULT_DISTRIBUTION) return this.defaultRecord();
    const record = GUID_PATTERN.test(idOrName)
      ? this.registry.get(idOrName.replace(/[{}]/g, '').toLowerCase())
      : this.registry.byName(idOrName);
    if (!record) throw new LxssError('WSL_E_DISTRO_NOT_FOUND', `there is no distribution "${idOrName}"`);
    return record;
  }

  private stateOf(record: DistributionRecord): DistributionState {
    const locked = this.locks.get(record.id);
    if (locked) return locked;
    return record.state === 'Installed' && this.runtime.isRunning(record.id) ? 'Running' : record.state;
  }

  private ensureUnlocked(record: DistributionRecord): void {
    const state = this.stateOf(record);
    if (state !== 'Installed' && state !== 'Running') {
      throw new LxssError('E_ILLEGAL_STATE_CHANGE', `${record.name} is ${state}; try again when it is done`);
    }
  }

  private view(record: DistributionRecord): DistributionView {
    return {
      id: record.id,
      name: record.name,
      state: this.stateOf(record),
      version: record.version,
      isDefault: this.registry.defaultDistribution === record.id,
      basePath: record.basePath,
      defaultUid: record.defaultUid,
      flags: flagsOf(record.flags),
      defaultEnvironment: [...record.defaultEnvironment],
      createdAt: record.createdAt,
      // While it installs, what the unpacker has taken so far: the record's size is written once it is done.
      sizeBytes: this.installing.get(record.id)?.written ?? record.sizeBytes,
    };
  }
}
