// Each user's VM gets a cgroup of its own (cgroup v2 where the host's v2 hierarchy has the controllers, else the
// v1 controllers of a hybrid host) with the pids, memory (and swap) and CPU limits of WSL's .wslconfig keys, below
// a parent of this service nested in the service's own cgroup. It moves no process but the VM's (and, on cgroup v2,
// the service itself into a leaf when its group must hand controllers down), and never fails a VM start: without
// usable controllers (non-root, a host without them) the VM runs unlimited, with a warning saying so.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { VmLimits, VmResources } from '../types.js';

/** WSL's floor for `[wsl2] memory`. */
export const MIN_MEMORY_BYTES = 256 * 1024 ** 2;
const GIB = 1024 ** 3;
const CPU_PERIOD_US = 100_000;
/** How long a VM's removal waits for the kernel to finish ending its processes. */
const REMOVE_TIMEOUT_MS = 5000;

/** The limits a VM gets on this host: WSL's defaults filled in and clamped as WSL does. */
export interface EffectiveLimits {
  readonly memoryBytes: number;
  readonly swapBytes: number;
  readonly processors: number;
  readonly maxProcesses: number;
}

/**
 * WSL's rules (WslCoreConfig): memory defaults to half the host's, at least 256 MiB and at most all of it; swap
 * defaults to a quarter of the memory rounded up to a whole GiB (0: none); processors to every logical CPU, at most
 * that many.
 */
export function effectiveLimits(
  requested: VmLimits,
  host: { memoryBytes: number; cpus: number } = { memoryBytes: totalmem(), cpus: availableParallelism() },
): EffectiveLimits {
  const memoryBytes = Math.min(Math.max(requested.memoryBytes ?? Math.floor(host.memoryBytes / 2), MIN_MEMORY_BYTES), host.memoryBytes);
  const swapBytes = requested.swapBytes ?? Math.ceil(memoryBytes / 4 / GIB) * GIB;
  const processors = Math.min(Math.max(requested.processors ?? host.cpus, 1), host.cpus);
  return { memoryBytes, swapBytes, processors, maxProcesses: requested.maxProcesses };
}

type Controller = 'pids' | 'memory' | 'cpu';
const CONTROLLERS: readonly Controller[] = ['pids', 'memory', 'cpu'];

/** Where this process sits in the hierarchies: cgroup v2's unified one, or one folder per v1 controller. */
type Layout =
  | { readonly version: 2; readonly own: string; readonly controllers: ReadonlySet<Controller> }
  | { readonly version: 1; readonly own: ReadonlyMap<Controller, string> };

interface Mount {
  readonly root: string;
  readonly point: string;
  readonly type: string;
  readonly options: string[];
}

function mounts(): Mount[] {
  const result: Mount[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const fields = left.split(' ');
    const [type, , superOptions] = right.split(' ');
    if (type !== 'cgroup' && type !== 'cgroup2') continue;
    const unescape = (path: string) => path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
    result.push({ root: unescape(fields[3] ?? '/'), point: unescape(fields[4] ?? ''), type, options: (superOptions ?? '').split(',') });
  }
  return result;
}

/** `/proc/self/cgroup`: the path of this process in each hierarchy, keyed by its controllers ('' for v2). */
function ownPaths(): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (match) paths.set(match[1]!, match[2]!);
  }
  return paths;
}

/** The folder of `path` (a cgroup path as /proc/self/cgroup says it) under `mount`. */
function folderOf(mount: Mount, path: string): string {
  const inside = relative(mount.root, path);
  return inside.startsWith('..') ? mount.point : join(mount.point, inside);
}

function detectLayout(): Layout | string {
  if (process.getuid?.() !== 0) return 'the service does not run as root';
  let all: Mount[];
  let paths: Map<string, string>;
  try {
    all = mounts();
    paths = ownPaths();
  } catch (error) {
    return `cannot read this process's cgroups: ${(error as Error).message}`;
  }
  const unified = all.find((mount) => mount.type === 'cgroup2');
  const unifiedPath = paths.get('');
  if (unified && unifiedPath !== undefined) {
    const own = folderOf(unified, unifiedPath);
    const available = readText(join(own, 'cgroup.controllers'))?.split(/\s+/) ?? [];
    const controllers = new Set(CONTROLLERS.filter((name) => available.includes(name)));
    if (controllers.has('pids') || controllers.has('memory')) return { version: 2, own, controllers };
  }
  const own = new Map<Controller, string>();
  for (const controller of CONTROLLERS) {
    const mount = all.find((candidate) => candidate.type === 'cgroup' && candidate.options.includes(controller));
    if (!mount) continue;
    const entry = [...paths].find(([names]) => names.split(',').includes(controller));
    if (entry) own.set(controller, folderOf(mount, entry[1]));
  }
  if (own.has('pids') || own.has('memory')) return { version: 1, own };
  return 'the host has no usable pids or memory cgroup controller';
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** `key value` lines (pids.events, memory.events, memory.oom_control) as numbers. */
function readCounts(path: string): Map<string, number> | undefined {
  const text = readText(path);
  if (text === undefined) return undefined;
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^\d+$/.test(value)) counts.set(key, Number(value));
  }
  return counts;
}

/** A limit file's value: `max` (v2) or the v1 "unlimited" (a page-rounded 2^63-1) is null. */
function readLimit(path: string): number | null {
  const text = readText(path);
  if (text === undefined || text === 'max' || !/^\d+$/.test(text)) return null;
  const value = Number(text);
  return value >= 2 ** 62 ? null : value;
}

function readNumber(path: string): number | null {
  const text = readText(path);
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : null;
}

function pidsIn(folder: string): number[] {
  const text = readText(join(folder, 'cgroup.procs'));
  return text ? text.split('\n').filter((line) => /^\d+$/.test(line)).map(Number) : [];
}

/** Kills what is left in `folder` and every group below it, then removes them, deepest first; false if one stays. */
function removeTreeSync(folder: string): boolean {
  let removed = true;
  let entries: string[] = [];
  try {
    entries = readdirSync(folder, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
  } catch {
    return !existsSync(folder);
  }
  for (const entry of entries) removed = removeTreeSync(join(folder, entry)) && removed;
  // cgroup v2 ends a whole group at once (no pid can slip away forking); v1 has only the list to kill.
  if (existsSync(join(folder, 'cgroup.kill'))) {
    try {
      writeFileSync(join(folder, 'cgroup.kill'), '1');
    } catch {
      // the kill below still runs
    }
  }
  for (const pid of pidsIn(folder)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  try {
    rmdirSync(folder);
  } catch {
    removed = false;
  }
  return removed;
}

/** The cgroups of one VM: one folder (v2) or one per controller (v1). */
export class VmCgroup {
  constructor(
    private readonly layout: Layout | undefined,
    /** every folder a process of the VM must join */
    readonly folders: readonly string[],
    private readonly byController: ReadonlyMap<Controller, string>,
    readonly limits: EffectiveLimits,
    readonly warnings: readonly string[],
  ) {}

  get limited(): boolean {
    return this.folders.length > 0;
  }

  /** Usage, limits and how often they were hit, read from the kernel now. */
  resources(): VmResources {
    const pids = this.byController.get('pids');
    const memory = this.byController.get('memory');
    const cpu = this.byController.get('cpu');
    const v2 = this.layout?.version === 2;
    const pidsEvents = pids === undefined ? undefined : readCounts(join(pids, 'pids.events'));
    let memoryView: VmResources['memory'] = { currentBytes: null, maxBytes: null, swapMaxBytes: null, maxReached: null, oomKills: null };
    if (memory !== undefined) {
      if (v2) {
        const events = readCounts(join(memory, 'memory.events'));
        memoryView = {
          currentBytes: readNumber(join(memory, 'memory.current')),
          maxBytes: readLimit(join(memory, 'memory.max')),
          swapMaxBytes: readLimit(join(memory, 'memory.swap.max')),
          maxReached: events?.get('max') ?? null,
          oomKills: events?.get('oom_kill') ?? null,
        };
      } else {
        const maxBytes = readLimit(join(memory, 'memory.limit_in_bytes'));
        const withSwap = readLimit(join(memory, 'memory.memsw.limit_in_bytes'));
        memoryView = {
          currentBytes: readNumber(join(memory, 'memory.usage_in_bytes')),
          maxBytes,
          swapMaxBytes: maxBytes !== null && withSwap !== null ? withSwap - maxBytes : null,
          maxReached: readNumber(join(memory, 'memory.failcnt')),
          oomKills: readCounts(join(memory, 'memory.oom_control'))?.get('oom_kill') ?? null,
        };
      }
    }
    let cpus: number | null = null;
    if (cpu !== undefined) {
      const [quota, period] = v2
        ? (readText(join(cpu, 'cpu.max')) ?? '').split(/\s+/).map((value) => Number(value))
        : [Number(readText(join(cpu, 'cpu.cfs_quota_us'))), Number(readText(join(cpu, 'cpu.cfs_period_us')))];
      cpus = quota !== undefined && period && quota > 0 ? quota / period : this.limits.processors;
    }
    return {
      limited: this.limited,
      warnings: [...this.warnings],
      processes: {
        current: pids === undefined ? null : readNumber(join(pids, 'pids.current')),
        max: pids === undefined ? null : readLimit(join(pids, 'pids.max')),
        maxReached: pidsEvents?.get('max') ?? null,
      },
      memory: memoryView,
      cpus,
    };
  }

  /** Ends whatever of the VM is still in its groups and removes them; waits for the kernel to let go. */
  async remove(): Promise<void> {
    for (const folder of this.folders) await removeGroup(folder);
  }
}

/**
 * Kills what is in the group `folder` (and any below it) and removes it, waiting (a while) for the kernel to finish
 * ending its processes: a group goes only once it is empty.
 */
async function removeGroup(folder: string): Promise<void> {
  const deadline = Date.now() + REMOVE_TIMEOUT_MS;
  while (!removeTreeSync(folder) && existsSync(folder) && Date.now() < deadline) await delay(20);
}

/** A service's parent group: `lxssd-` and 12 hex digits of its state folder's hash. */
const SERVICE_GROUP = /^lxssd-[0-9a-f]{12}$/;

/** The cgroups of one service (one state folder): where its VMs' groups live, made and cleaned. */
export class CgroupHost {
  private readonly layout: Layout | undefined;
  private readonly reason: string | undefined;
  private readonly parents = new Map<Controller | 'all', string>();

  /** `key` tells apart services on one host (their state folders): each cleans only its own groups. */
  constructor(stateDir: string) {
    const key = `lxssd-${createHash('sha256').update(stateDir).digest('hex').slice(0, 12)}`;
    const layout = detectLayout();
    if (typeof layout === 'string') {
      this.reason = layout;
      return;
    }
    this.layout = layout;
    if (layout.version === 2) this.parents.set('all', join(layout.own, key));
    else for (const [controller, own] of layout.own) this.parents.set(controller, join(own, key));
  }

  /** Groups left by a service on the same state folder that was killed: their processes are ended, they go. */
  cleanStale(): void {
    // Best effort, never a failure: one still busy is removed again before a VM of its name starts.
    for (const parent of this.parents.values()) {
      if (existsSync(parent)) removeTreeSync(parent);
      // The empty parents of services killed for good (another state folder): the kernel removes a group only
      // when it has neither processes nor groups below it, so a live service's VMs are never touched.
      const own = dirname(parent);
      let siblings: string[] = [];
      try {
        siblings = readdirSync(own).filter((entry) => SERVICE_GROUP.test(entry));
      } catch {
        continue;
      }
      for (const sibling of siblings) {
        try {
          rmdirSync(join(own, sibling));
        } catch {
          // in use
        }
      }
    }
  }

  /** Removes the service's parent groups when it closes (only when empty). */
  release(): void {
    for (const parent of this.parents.values()) {
      try {
        rmdirSync(parent);
      } catch {
        // VMs still running (or never made)
      }
    }
  }

  /** Makes the VM's groups with `requested` limits; never throws: what cannot be limited becomes a warning. */
  async create(name: string, requested: VmLimits): Promise<VmCgroup> {
    const limits = effectiveLimits(requested);
    // A group of that name left over (the service killed, or a VM whose holder died on its own) goes first.
    for (const parent of this.parents.values()) await removeGroup(join(parent, name));
    if (!this.layout) {
      return new VmCgroup(undefined, [], new Map(), limits, [`resource limits are off: ${this.reason}; the VM runs unlimited`]);
    }
    for (let attempt = 1; ; attempt++) {
      const warnings: string[] = [];
      const byController = new Map<Controller, string>();
      try {
        if (this.layout.version === 2) this.createV2(name, limits, byController, warnings);
        else this.createV1(name, limits, byController, warnings);
        return new VmCgroup(this.layout, [...new Set(byController.values())], byController, limits, warnings);
      } catch (error) {
        await new VmCgroup(this.layout, [...new Set(byController.values())], byController, limits, []).remove();
        // ENOENT: another service starting removed our (then empty) parent in between; make it again.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT' && attempt < 3) continue;
        return new VmCgroup(undefined, [], new Map(), limits, [
          `resource limits are off: the VM's cgroup could not be made (${(error as Error).message}); the VM runs unlimited`,
        ]);
      }
    }
  }

  private createV1(name: string, limits: EffectiveLimits, byController: Map<Controller, string>, warnings: string[]): void {
    for (const controller of CONTROLLERS) {
      const parent = this.parents.get(controller);
      if (!parent) {
        warnings.push(`the host has no ${controller} cgroup controller: ${describe(controller)} not limited`);
        continue;
      }
      const folder = makeGroup(parent, name);
      byController.set(controller, folder);
      if (controller === 'pids') writeFileSync(join(folder, 'pids.max'), String(limits.maxProcesses));
      if (controller === 'memory') {
        writeFileSync(join(folder, 'memory.limit_in_bytes'), String(limits.memoryBytes));
        if (existsSync(join(folder, 'memory.memsw.limit_in_bytes'))) {
          writeFileSync(join(folder, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes + limits.swapBytes));
        } else {
          warnings.push('the host does not account swap (no memory.memsw): swap is not limited');
        }
      }
      if (controller === 'cpu') {
        writeFileSync(join(folder, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
        writeFileSync(join(folder, 'cpu.cfs_quota_us'), cpuQuota(limits) ?? '-1');
      }
    }
  }

  private createV2(name: string, limits: EffectiveLimits, byController: Map<Controller, string>, warnings: string[]): void {
    const layout = this.layout as Extract<Layout, { version: 2 }>;
    const parent = this.parents.get('all')!;
    const enable = [...layout.controllers].map((controller) => `+${controller}`).join(' ');
    enableControllers(layout.own, enable);
    mkdirSync(parent, { recursive: true });
    writeFileSync(join(parent, 'cgroup.subtree_control'), enable);
    const folder = makeGroup(parent, name);
    for (const controller of CONTROLLERS) {
      if (!layout.controllers.has(controller)) {
        warnings.push(`the host's cgroup v2 has no ${controller} controller here: ${describe(controller)} not limited`);
        continue;
      }
      byController.set(controller, folder);
      if (controller === 'pids') writeFileSync(join(folder, 'pids.max'), String(limits.maxProcesses));
      if (controller === 'memory') {
        writeFileSync(join(folder, 'memory.max'), String(limits.memoryBytes));
        if (existsSync(join(folder, 'memory.swap.max'))) {
          writeFileSync(join(folder, 'memory.swap.max'), String(limits.swapBytes));
        } else {
          warnings.push('the host does not account swap (no memory.swap.max): swap is not limited');
        }
      }
      if (controller === 'cpu') writeFileSync(join(folder, 'cpu.max'), `${cpuQuota(limits) ?? 'max'} ${CPU_PERIOD_US}`);
    }
  }
}

function describe(controller: Controller): string {
  return { pids: 'processes are', memory: 'memory is', cpu: 'processors are' }[controller];
}

/** The CPU time per period that `processors` CPUs give; undefined when that is all the host has. */
function cpuQuota(limits: EffectiveLimits): string | undefined {
  return limits.processors < availableParallelism() ? String(limits.processors * CPU_PERIOD_US) : undefined;
}

/** A fresh group (one left over was removed before). */
function makeGroup(parent: string, name: string): string {
  mkdirSync(parent, { recursive: true });
  const folder = join(parent, name);
  mkdirSync(folder);
  return folder;
}

/**
 * cgroup v2 lets a group hand controllers to its children only while it has no processes of its own. The
 * service's own group usually holds the service: it moves itself into a leaf beside its VMs' parent first (the
 * layout systemd's Delegate= expects).
 */
function enableControllers(own: string, enable: string): void {
  const control = join(own, 'cgroup.subtree_control');
  const wanted = enable.split(' ').map((item) => item.slice(1));
  const current = readText(control)?.split(/\s+/) ?? [];
  if (wanted.every((controller) => current.includes(controller))) return;
  try {
    writeFileSync(control, enable);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EBUSY') throw error;
    const leaf = join(own, 'lxssd-service');
    mkdirSync(leaf, { recursive: true });
    for (const pid of pidsIn(own)) writeFileSync(join(leaf, 'cgroup.procs'), String(pid));
    writeFileSync(control, enable);
  }
}

