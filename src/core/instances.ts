// One user's VM and running distributions: WSL's WslCoreVm (booted with the first instance, stopped after
// vmIdleTimeout without one), CreateInstance / TerminateDistribution / Shutdown, and the idle rule of
// instanceIdleTimeout. Every start and stop goes to the session's event bus with its reason, and so does a VM
// reaching one of its limits (processes, memory), seen by polling its counts while it runs.

import { posix } from 'node:path';
import {
  type HvInstance,
  HvError,
  type HvVm,
  type Hypervisor,
  type OwnerSid,
  type RegistrationStore,
  type SharedFolder,
  type StopReason,
  type VmLimits,
  type VmResources,
} from '../hv/index.js';
import { fromHv, LxssError } from './errors.js';
import { aboutDistribution, type EventBus } from './events.js';
import { filesMissing } from './distributions.js';
import { collectedText, collectStreams } from './output-collect.js';
import { UndoStack } from './undo-stack.js';

export interface InstanceView {
  distributionId: string;
  name: string;
  state: 'Running';
  /** host pid of its PID 1, where the host can tell */
  pid: number | null;
  startedAt: string;
  processCount: number;
  hostname: string;
  /** what the VM it runs in lacks (e.g. a range of ids of the user's own) */
  warnings: string[];
}

export interface ShareView {
  hostPath: string;
  target: string;
  readOnly: boolean;
  /** automount: from the service's sharedFolders at start; runtime: added through the API */
  origin: 'automount' | 'runtime';
}

/** A running VM's limits and use of them; null where the host does not count it. */
export interface VmResourcesView {
  /** false: the host could not confine the VM; `warnings` say why */
  limited: boolean;
  warnings: string[];
  processes: { current: number | null; max: number | null; maxReached: number | null };
  memory: {
    currentBytes: number | null;
    maxBytes: number | null;
    swapMaxBytes: number | null;
    maxReached: number | null;
    oomKills: number | null;
  };
  cpus: number | null;
}

export interface VmView {
  state: 'Running' | 'Stopped';
  pid: number | null;
  startedAt: string | null;
  /** null while the VM is stopped */
  resources: VmResourcesView | null;
  instances: InstanceView[];
  /** what the running VM lacks, or what one would lack or be refused for when none runs */
  warnings: string[];
}

/** How often a running VM's limit counters are read to tell when it reached one. */
const LIMIT_POLL_MS = 2000;

function resourcesView(resources: VmResources): VmResourcesView {
  return {
    limited: resources.limited,
    warnings: [...resources.warnings],
    processes: { ...resources.processes },
    memory: { ...resources.memory },
    cpus: resources.cpus,
  };
}

/** A counter that grew between two readings (null never counts as growth). */
function grew(before: number | null, after: number | null): boolean {
  return before !== null && after !== null && after > before;
}

/** A distribution as the instance manager needs to know it. */
export interface DistributionRef {
  id: string;
  name: string;
  basePath: string;
}

export interface InstancesOptions {
  owner: OwnerSid;
  instanceIdleTimeout: number;
  vmIdleTimeout: number;
  /** what the VM may use */
  vmLimits: VmLimits;
  /** host folders to share, by name under the automount root (e.g. `home` → `/mnt/home`) */
  sharedFolders: ReadonlyArray<{ name: string; hostPath: string }>;
  log(message: string, detail?: Record<string, unknown>): void;
}

interface RunningInstance {
  readonly distribution: DistributionRef;
  readonly hv: HvInstance;
  /** processes started through the API and still running: the instance is idle at zero */
  clients: number;
  /** host folders bound in it, by target */
  readonly shares: Map<string, ShareView>;
  idleTimer?: NodeJS.Timeout;
  stopReason?: StopReason;
}

/** Targets a share may not cover: the root and the kernel's filesystems every program relies on. */
const RESERVED_TARGETS = ['/proc', '/sys', '/dev'];

/** One spelling per folder (`/mnt//x/` is `/mnt/x`), so a share is found by any of them. */
function mountTarget(target: string): string {
  return posix.resolve('/', target);
}

export class Instances {
  private vm: HvVm | undefined;
  private vmStarting: Promise<HvVm> | undefined;
  private vmStopReason: StopReason | undefined;
  private vmIdleTimer: NodeJS.Timeout | undefined;
  private readonly running = new Map<string, RunningInstance>();
  private readonly starting = new Map<string, Promise<RunningInstance>>();

  constructor(
    private readonly hv: Hypervisor,
    /** where a running distribution's name is read (it may be renamed while it runs) */
    private readonly registry: RegistrationStore,
    private readonly events: EventBus,
    private readonly options: InstancesOptions,
  ) {}

  isRunning(distributionId: string): boolean {
    return this.running.has(distributionId);
  }

  /** CreateInstance: starts the distribution (and the VM) unless it runs already. */
  async start(distribution: DistributionRef): Promise<{ instance: InstanceView; created: boolean }> {
    const { instance, created } = await this.startOrJoin(distribution);
    return { instance: await this.view(instance), created };
  }

  /**
   * Starts the distribution (and the VM) unless it runs already, without a view: a process launch needs the
   * instance running, not its process count, which costs the host a scan.
   */
  async ensureRunning(distribution: DistributionRef): Promise<void> {
    await this.startOrJoin(distribution);
  }

  private async startOrJoin(distribution: DistributionRef): Promise<{ instance: RunningInstance; created: boolean }> {
    const existing = this.running.get(distribution.id);
    if (existing) return { instance: existing, created: false };
    let pending = this.starting.get(distribution.id);
    const created = pending === undefined;
    if (!pending) {
      pending = this.launch(distribution)
        .catch((error: unknown) => {
          throw fromHv(error);
        })
        .finally(() => this.starting.delete(distribution.id));
      this.starting.set(distribution.id, pending);
    }
    return { instance: await pending, created };
  }

  async get(distributionId: string, name: string): Promise<InstanceView> {
    return this.view(this.runningOrThrow(distributionId, name));
  }

  /** TerminateDistribution: stops it; a distribution that is not running is fine (as in WSL). */
  async terminate(distributionId: string, reason: StopReason = 'requested'): Promise<void> {
    await this.starting.get(distributionId)?.catch(() => undefined);
    const instance = this.running.get(distributionId);
    if (!instance) return;
    instance.stopReason ??= reason;
    await instance.hv.terminate();
    await instance.hv.ended;
  }

  /** Shutdown: every instance of this user, then the VM. */
  async shutdown(): Promise<void> {
    await Promise.all([...this.starting.values()].map((pending) => pending.catch(() => undefined)));
    await Promise.all([...this.running.keys()].map((id) => this.terminate(id, 'shutdown')));
    await this.stopVm('shutdown');
  }

  async vmView(): Promise<VmView> {
    return {
      state: this.vm ? 'Running' : 'Stopped',
      pid: this.vm ? (this.vm.pid ?? null) : null,
      startedAt: this.vm?.startedAt.toISOString() ?? null,
      resources: this.vm ? await this.vm.resources().then(resourcesView, () => null) : null,
      instances: await Promise.all([...this.running.values()].map((instance) => this.view(instance))),
      warnings: [...(this.vm ? this.vm.warnings : await this.hv.vmWarnings(this.options.owner))],
    };
  }

  /** The instance of a distribution for launching processes; each holds it busy until released. */
  acquire(distributionId: string): HvInstance | undefined {
    const instance = this.running.get(distributionId);
    if (!instance) return undefined;
    // The idle timer stays armed: it finds the instance busy when it fires (a timer per launch cost each run).
    instance.clients++;
    return instance.hv;
  }

  release(distributionId: string): void {
    const instance = this.running.get(distributionId);
    if (!instance) return;
    instance.clients = Math.max(0, instance.clients - 1);
    if (instance.clients === 0) this.armIdle(instance);
  }

  /** Host folders shared into a running distribution. */
  shares(distributionId: string, name: string): ShareView[] {
    return [...this.runningOrThrow(distributionId, name).shares.values()];
  }

  /** Binds a host folder the owner may read into a running distribution. */
  async share(distributionId: string, name: string, requested: SharedFolder): Promise<ShareView> {
    const folder = { ...requested, target: mountTarget(requested.target) };
    const reserved = (path: string) => folder.target === path || folder.target.startsWith(`${path}/`);
    if (folder.target === '/' || RESERVED_TARGETS.some(reserved)) {
      throw new LxssError('E_INVALIDARG', `${folder.target} cannot be a mount point: the distribution needs what is there`);
    }
    const instance = this.runningOrThrow(distributionId, name);
    if (instance.shares.has(folder.target)) {
      throw new LxssError('ERROR_ALREADY_EXISTS', `${folder.target} is already shared in ${name}`);
    }
    const view: ShareView = { ...folder, origin: 'runtime' };
    // Claimed before the await, so a second request for the same target waits for nothing and fails.
    instance.shares.set(folder.target, view);
    try {
      await instance.hv.share(folder);
    } catch (error) {
      instance.shares.delete(folder.target);
      const badPath = error instanceof HvError && error.kind === 'bad-path';
      throw fromHv(error, badPath ? { about: `${folder.target} cannot be a mount point` } : {});
    }
    return view;
  }

  async unshare(distributionId: string, name: string, requested: string): Promise<void> {
    const target = mountTarget(requested);
    const instance = this.runningOrThrow(distributionId, name);
    if (!instance.shares.has(target)) throw new LxssError('ERROR_NOT_FOUND', `nothing is shared at ${target} in ${name}`);
    await instance.hv.unshare(target);
    instance.shares.delete(target);
  }

  private runningOrThrow(distributionId: string, name: string): RunningInstance {
    const instance = this.running.get(distributionId);
    if (!instance) throw new LxssError('LXSSD_E_NOT_RUNNING', `${name} is not running`);
    return instance;
  }

  defaultUserOf(distributionId: string): string | undefined {
    return this.running.get(distributionId)?.hv.guest.defaultUser;
  }

  /** Boots the VM when needed, then the instance; a start that fails leaves the VM to its idle rule again. */
  private async launch(distribution: DistributionRef): Promise<RunningInstance> {
    const undo = new UndoStack();
    let hv: HvInstance;
    try {
      const vm = await this.ensureVm();
      undo.push(() => {
        if (this.running.size === 0) this.armVmIdle();
      });
      hv = await vm.startInstance({ basePath: distribution.basePath, name: distribution.name, automount: this.options.sharedFolders });
    } catch (error) {
      await undo.unwind();
      if (error instanceof HvError && error.kind === 'files-missing') throw filesMissing(distribution);
      throw error;
    }
    undo.dismiss();
    const shares = new Map(hv.guest.shared.map((folder) => [folder.target, { ...folder, origin: 'automount' as const }] as const));
    const instance: RunningInstance = { distribution, hv, clients: 0, shares };
    this.running.set(distribution.id, instance);
    this.events.emit({ type: 'instance-started', ...aboutDistribution(distribution), pid: hv.pid ?? null });
    hv.ended.then(() => this.ended(instance));
    if (hv.guest.bootCommand) this.runBootCommand(instance, hv.guest.bootCommand);
    this.armIdle(instance);
    return instance;
  }

  /** [boot] command runs as root with its output logged and reported; it does not keep the instance busy. */
  private runBootCommand(instance: RunningInstance, command: string): void {
    const { distribution } = instance;
    const run = async () => {
      const process = await instance.hv.spawn({
        argv: ['/bin/sh', '-c', command],
        env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'USER=root'],
        user: 0,
        cwd: '/',
      });
      process.stdin?.end();
      // The exit can be reported before the last output arrives: wait for both streams to end too. The event
      // carries the first 64 KiB of it.
      const [status, collected] = await Promise.all([process.exited, collectStreams(process, { maxBytes: 64 * 1024 })]);
      const output = collectedText(collected);
      this.options.log('boot command exited', { distribution: distribution.name, exitCode: status.exitCode, output });
      this.events.emit({
        type: 'boot-command-exited',
        ...aboutDistribution(distribution),
        exitCode: status.exitCode,
        output,
      });
    };
    run().catch((error: unknown) =>
      this.options.log('boot command could not run', { distribution: distribution.name, error: String(error) }),
    );
  }

  private ended(instance: RunningInstance): void {
    this.disarmIdle(instance);
    const { distribution } = instance;
    if (this.running.get(distribution.id) !== instance) return;
    this.running.delete(distribution.id);
    this.events.emit({
      type: 'instance-stopped',
      ...aboutDistribution(distribution),
      reason: instance.stopReason ?? 'crashed',
    });
    if (this.running.size === 0 && this.starting.size === 0) this.armVmIdle();
  }

  /** Counts instanceIdleTimeout from now (again, when it was counting already). */
  private armIdle(instance: RunningInstance): void {
    if (this.options.instanceIdleTimeout < 0 || instance.clients > 0) return;
    if (instance.idleTimer) {
      instance.idleTimer.refresh();
      return;
    }
    instance.idleTimer = setTimeout(() => {
      instance.idleTimer = undefined;
      if (instance.clients === 0) this.terminate(instance.distribution.id, 'idle').catch(() => undefined);
    }, this.options.instanceIdleTimeout);
    instance.idleTimer.unref();
  }

  private disarmIdle(instance: RunningInstance): void {
    if (instance.idleTimer) clearTimeout(instance.idleTimer);
    instance.idleTimer = undefined;
  }

  private async ensureVm(): Promise<HvVm> {
    if (this.vmIdleTimer) clearTimeout(this.vmIdleTimer);
    this.vmIdleTimer = undefined;
    if (this.vm) return this.vm;
    this.vmStarting ??= this.hv.startVm(this.options.owner, this.options.vmLimits).then(
      (vm) => {
        this.vm = vm;
        this.vmStarting = undefined;
        this.vmStopReason = undefined;
        this.events.emit({ type: 'vm-started', pid: vm.pid ?? null });
        this.watchLimits(vm);
        vm.ended.then(() => {
          if (this.vm !== vm) return;
          this.vm = undefined;
          this.events.emit({ type: 'vm-stopped', reason: this.vmStopReason ?? 'crashed' });
        });
        return vm;
      },
      (error: unknown) => {
        this.vmStarting = undefined;
        throw fromHv(error);
      },
    );
    return this.vmStarting;
  }

  /** Emits vm-limit-reached when a running VM's limit counters grow; logs once what the VM is not limited in. */
  private watchLimits(vm: HvVm): void {
    let last: VmResources | undefined;
    const read = () =>
      vm.resources().then(
        (now) => {
          if (last === undefined && now.warnings.length > 0) {
            this.options.log('the VM runs without some of its limits', { warnings: now.warnings });
          }
          if (last !== undefined && this.vm === vm) this.reportLimits(last, now);
          last = now;
        },
        () => undefined,
      );
    void read();
    const timer = setInterval(read, LIMIT_POLL_MS);
    timer.unref();
    void vm.ended.then(() => clearInterval(timer));
  }

  private reportLimits(before: VmResources, now: VmResources): void {
    if (grew(before.processes.maxReached, now.processes.maxReached)) {
      this.events.emit({
        type: 'vm-limit-reached',
        resource: 'processes',
        count: now.processes.maxReached!,
        limit: now.processes.max,
      });
    }
    if (grew(before.memory.maxReached, now.memory.maxReached) || grew(before.memory.oomKills, now.memory.oomKills)) {
      this.events.emit({
        type: 'vm-limit-reached',
        resource: 'memory',
        count: now.memory.maxReached ?? now.memory.oomKills ?? 0,
        limit: now.memory.maxBytes,
      });
    }
  }

  private armVmIdle(): void {
    if (this.vmIdleTimer) clearTimeout(this.vmIdleTimer);
    this.vmIdleTimer = undefined;
    if (!this.vm || this.options.vmIdleTimeout < 0) return;
    this.vmIdleTimer = setTimeout(() => {
      this.vmIdleTimer = undefined;
      if (this.running.size === 0 && this.starting.size === 0) this.stopVm('idle').catch(() => undefined);
    }, this.options.vmIdleTimeout);
    this.vmIdleTimer.unref();
  }

  private async stopVm(reason: StopReason): Promise<void> {
    if (this.vmIdleTimer) clearTimeout(this.vmIdleTimer);
    this.vmIdleTimer = undefined;
    const vm = this.vm;
    if (!vm) return;
    this.vmStopReason ??= reason;
    await vm.stop();
    await vm.ended;
  }

  private async view(instance: RunningInstance): Promise<InstanceView> {
    return {
      distributionId: instance.distribution.id,
      name: this.registry.get(instance.distribution.id)?.name ?? instance.distribution.name,
      state: 'Running',
      pid: instance.hv.pid ?? null,
      startedAt: instance.hv.startedAt.toISOString(),
      processCount: await instance.hv.processCount().catch(() => 0),
      hostname: instance.hv.guest.hostname,
      warnings: [...(this.vm?.warnings ?? [])],
    };
  }
}
