// One user's session: the per-SID home of everything a user owns (like WSL's LxssUserSessionImpl) — its
// event bus and its distributions; instances and processes join them in later issues.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Hypervisor, VmLimits } from '../hv/index.js';
import { StateFileError } from './atomic-file.js';
import { Distributions } from './distributions.js';
import { LxssError } from './errors.js';
import { EventBus } from './events.js';
import type { Sid } from './identity.js';
import { uidForSid } from './identity.js';
import { Instances } from './instances.js';
import { Processes } from './processes.js';
import { Registry } from './registry.js';

export interface SessionInfo {
  readonly sid: Sid;
  /** the host account name, or null when the SID has no local account */
  readonly user: string | null;
  readonly uid: number | null;
  readonly home: string | null;
  readonly createdAt: string;
}

export interface AccountLookup {
  (uid: number): { name: string; home: string } | undefined;
}

/** What every session shares: the host's accounts and files, and where state is kept. */
export interface SessionContext {
  readonly accounts: AccountLookup;
  readonly hv: Hypervisor;
  /** `<stateDir>/users`: one folder per SID */
  readonly usersDir: string;
  readonly maxImportBytes: number;
  readonly maxImportEntries: number;
  readonly instanceIdleTimeout: number;
  readonly vmIdleTimeout: number;
  /** host folders shared into instances: name → host path, `~` standing for the user's home */
  readonly sharedFolders: ReadonlyArray<{ name: string; hostPath: string }>;
  /** how long an exited process stays listed */
  readonly processRetentionMs: number;
  /** running processes a user may have at once */
  readonly maxProcesses: number;
  /** output one user's `run`s in progress may hold at once */
  readonly maxRunOutputBytes: number;
  /** WebSockets and event streams a user may hold open at once */
  readonly maxStreams: number;
  /** what each user's VM may use */
  readonly vmLimits: VmLimits;
  log(message: string, detail?: Record<string, unknown>): void;
}

/** What a session owns once opened: its distributions and their running instances. */
interface SessionState {
  readonly distributions: Distributions;
  readonly instances: Instances;
  readonly processes: Processes;
}

export class UserSession {
  readonly sid: Sid;
  readonly uid: number | null;
  readonly createdAt = new Date();
  readonly events = new EventBus();
  private ready: Promise<SessionState> | undefined;
  /** WebSockets and event streams open now, counted against maxStreams */
  private openStreams = 0;

  constructor(
    sid: Sid,
    private readonly context: SessionContext,
  ) {
    this.sid = sid;
    this.uid = uidForSid(sid) ?? null;
  }

  /** Names are looked up on each call: accounts may be created or renamed while the service runs. */
  describe(): SessionInfo {
    const account = this.uid === null ? undefined : this.context.accounts(this.uid);
    return {
      sid: this.sid,
      user: account?.name ?? null,
      uid: this.uid,
      home: account?.home ?? null,
      createdAt: this.createdAt.toISOString(),
    };
  }

  /** What the user's VM lacks or would be refused for (e.g. no range of ids of its own), as sentences. */
  async warnings(): Promise<string[]> {
    if (this.uid === null) return [];
    return [...(await this.context.hv.vmWarnings(this.uid))];
  }

  /**
   * Counts a stream (a WebSocket or an event stream) the user opens; the returned function gives its place back
   * (calling it again does nothing). Past maxStreams: LXSSD_E_TOO_MANY_STREAMS.
   */
  openStream(): () => void {
    if (this.openStreams >= this.context.maxStreams) {
      throw new LxssError(
        'LXSSD_E_TOO_MANY_STREAMS',
        `you hold ${this.openStreams} open WebSockets and event streams, the most allowed (maxStreams); close some first`,
      );
    }
    this.openStreams++;
    let open = true;
    return () => {
      if (open) this.openStreams--;
      open = false;
    };
  }

  /** This user's distributions, opened (and recovered after a crash) on first use. */
  async distributions(): Promise<Distributions> {
    return (await this.open()).distributions;
  }

  /** This user's VM and running distributions. */
  async instances(): Promise<Instances> {
    return (await this.open()).instances;
  }

  /** This user's processes. */
  async processes(): Promise<Processes> {
    return (await this.open()).processes;
  }

  /** Stops everything this session runs (the service is closing, or the user asked). */
  async shutdown(): Promise<void> {
    if (!this.ready) return;
    const state = await this.ready.catch(() => undefined);
    await state?.instances.shutdown();
  }

  private open(): Promise<SessionState> {
    this.ready ??= this.openState().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  private async openState(): Promise<SessionState> {
    const uid = this.uid;
    const account = uid === null ? undefined : this.context.accounts(uid);
    if (uid === null || account === undefined) {
      throw new LxssError('E_ACCESSDENIED', `${this.sid} has no account on this host to own distributions`);
    }
    const folder = join(this.context.usersDir, this.sid);
    // Traversable, not listable: the owner must reach its distributions folder inside.
    await mkdir(folder, { recursive: true, mode: 0o711 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOSPC' || error.code === 'EDQUOT') {
        throw new LxssError('ERROR_DISK_FULL', `cannot make ${folder}: the disk is full`);
      }
      throw new StateFileError(folder, `cannot be made a folder (${error.code ?? error.message})`);
    });
    const registry = await Registry.open(join(folder, 'registry.json'));
    const files = this.context.hv.files;
    const distributions = new Distributions(registry, files, this.events, {
      uid,
      defaultFolder: join(folder, 'distributions'),
      maxImportBytes: this.context.maxImportBytes,
      maxImportEntries: this.context.maxImportEntries,
    });
    await distributions.recover();
    const instances = new Instances(this.context.hv, this.events, {
      uid,
      instanceIdleTimeout: this.context.instanceIdleTimeout,
      vmIdleTimeout: this.context.vmIdleTimeout,
      vmLimits: this.context.vmLimits,
      sharedFolders: this.context.sharedFolders.map((folder) => ({
        name: folder.name,
        hostPath: folder.hostPath === '~' ? account.home : folder.hostPath.replace(/^~\//, `${account.home}/`),
      })),
      nameOf: (id) => distributions.nameOf(id),
      readDistroFile: (basePath, path) => files.readFile(uid, basePath, path),
      distroFilesPresent: (basePath) => files.present(uid, basePath),
      log: (message, detail) => this.context.log(message, { sid: this.sid, ...detail }),
    });
    distributions.attachRuntime({
      isRunning: (id) => instances.isRunning(id),
      terminate: (id) => instances.terminate(id, 'requested'),
    });
    const processes = new Processes(
      distributions,
      instances,
      this.events,
      (basePath, path) => files.readFile(uid, basePath, path),
      {
        retentionMs: this.context.processRetentionMs,
        maxProcesses: this.context.maxProcesses,
        maxRunOutputBytes: this.context.maxRunOutputBytes,
      },
    );
    return { distributions, instances, processes };
  }
}
