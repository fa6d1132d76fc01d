// One user's session: the per-SID home of everything a user owns (like WSL's LxssUserSessionImpl) — its event
// bus, distributions, VM and instances, processes — and the verbs that span them, so a route makes one call.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Account, Hypervisor, SharedFolder, VmLimits } from '../hv/index.js';
import { StateFileError } from './atomic-file.js';
import { Distributions } from './distributions.js';
import { LxssError } from './errors.js';
import { EventBus } from './events.js';
import type { Sid } from './identity.js';
import { type InstanceView, Instances, type ShareView, type VmView } from './instances.js';
import { type Page, type ProcessView, Processes } from './processes.js';
import { Registry } from './registry.js';

export interface SessionInfo {
  readonly sid: Sid;
  /** the host account name, or null when the SID has no local account */
  readonly user: string | null;
  readonly uid: number | null;
  readonly home: string | null;
  readonly createdAt: string;
}

/** What every session shares: the host (its accounts and files), and where state is kept. */
export interface SessionContext {
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
  }

  /** The host account of the SID, looked up on each call: accounts may be created or renamed while the service runs. */
  private account(): Account | undefined {
    return this.context.hv.account(this.sid);
  }

  describe(): SessionInfo {
    const account = this.account();
    return {
      sid: this.sid,
      user: account?.name ?? null,
      uid: account?.uid ?? null,
      home: account?.home ?? null,
      createdAt: this.createdAt.toISOString(),
    };
  }

  /** What the user's VM lacks or would be refused for (e.g. no range of ids of its own), as sentences. */
  async warnings(): Promise<string[]> {
    return [...(await this.context.hv.vmWarnings(this.sid))];
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

  /** One page of the processes of one distribution. */
  async processesOf(distro: string, page: { limit?: number; after?: string }): Promise<Page<ProcessView>> {
    const { distributions, processes } = await this.open();
    return processes.list(distributions.idOf(distro).id, page);
  }

  /** CreateInstance: starts the distribution (and the VM) unless it runs; `created` says which. */
  async startInstance(distro: string): Promise<{ instance: InstanceView; created: boolean }> {
    const { distributions, instances } = await this.open();
    return instances.start(distributions.startable(distro));
  }

  /** The running instance of a distribution (LXSSD_E_NOT_RUNNING when it is stopped). */
  async instance(distro: string): Promise<InstanceView> {
    const { distributions, instances } = await this.open();
    const { id, name } = distributions.idOf(distro);
    return instances.get(id, name);
  }

  /** TerminateDistribution: fine when it is not running. */
  async terminateInstance(distro: string): Promise<void> {
    const { distributions, instances } = await this.open();
    await instances.terminate(distributions.idOf(distro).id, 'requested');
  }

  async vm(): Promise<VmView> {
    return (await this.open()).instances.vmView();
  }

  /** Host folders shared into a running distribution. */
  async mounts(distro: string): Promise<ShareView[]> {
    const { distributions, instances } = await this.open();
    const { id, name } = distributions.idOf(distro);
    return instances.shares(id, name);
  }

  async addMount(distro: string, folder: SharedFolder): Promise<ShareView> {
    const { distributions, instances } = await this.open();
    const { id, name } = distributions.idOf(distro);
    return instances.share(id, name, folder);
  }

  async removeMount(distro: string, target: string): Promise<void> {
    const { distributions, instances } = await this.open();
    const { id, name } = distributions.idOf(distro);
    await instances.unshare(id, name, target);
  }

  /**
   * Shutdown: every instance of this user, then the VM (the service is closing, or the user asked); a session
   * that never opened has nothing to stop.
   */
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

  /** Builds the managers in the order they depend on each other: the store, instances, distributions, processes. */
  private async openState(): Promise<SessionState> {
    const { hv } = this.context;
    const account = this.account();
    if (account === undefined) {
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
    const registry = hv.registrations ? await hv.registrations(this.sid) : await Registry.open(join(folder, 'registry.json'));
    const instances = new Instances(hv, registry, this.events, {
      owner: this.sid,
      instanceIdleTimeout: this.context.instanceIdleTimeout,
      vmIdleTimeout: this.context.vmIdleTimeout,
      vmLimits: this.context.vmLimits,
      sharedFolders: this.context.sharedFolders.map((shared) => ({
        name: shared.name,
        hostPath: shared.hostPath === '~' ? account.home : shared.hostPath.replace(/^~\//, `${account.home}/`),
      })),
      log: (message, detail) => this.context.log(message, { sid: this.sid, ...detail }),
    });
    const distributions = new Distributions(registry, hv.files, instances, this.events, {
      owner: this.sid,
      defaultFolder: join(folder, 'distributions'),
      maxImportBytes: this.context.maxImportBytes,
      maxImportEntries: this.context.maxImportEntries,
    });
    await distributions.recover();
    const processes = new Processes(distributions, instances, hv.files, this.events, {
      owner: this.sid,
      retentionMs: this.context.processRetentionMs,
      maxProcesses: this.context.maxProcesses,
      maxRunOutputBytes: this.context.maxRunOutputBytes,
    });
    return { distributions, instances, processes };
  }
}
