// The stub's VM and instances: plain objects whose `ended` promises settle when they are stopped. An instance
// runs guest programs (./guest.ts) over its distribution's in-memory tree, with shared host folders read for
// real through node:fs where they are mounted.

import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HvError } from '../errors.js';
import type { HvInstance, HvProcess, HvVm, InstanceSpec, LaunchSpec, SharedFolder, VmLimits, VmResources } from '../types.js';
import type { StubDistroFiles } from './files.js';
import { findProgram, type GuestFiles } from './guest.js';
import { StubProcess } from './process.js';
import { type Tree, treeKey } from './tree.js';

/** The contract's SIGKILL: what ends the processes of an instance that is terminated. */
const SIGKILL = 9;
const NOT_FOUND = 'No such file or directory';

/** Numbers for the stub's "pids", one sequence for everything the stub starts. */
export class PidCounter {
  private next = 1000;
  take(): number {
    return this.next++;
  }
}

export class StubVm implements HvVm {
  readonly startedAt = new Date();
  readonly warnings: readonly string[] = [];
  readonly ended: Promise<void>;
  readonly pid: number;
  private readonly instances = new Set<StubInstance>();
  private stopped = false;
  private end!: () => void;

  constructor(
    private readonly uid: number,
    private readonly limits: VmLimits,
    private readonly files: StubDistroFiles,
    private readonly pids: PidCounter,
  ) {
    this.pid = pids.take();
    this.ended = new Promise((resolve) => (this.end = resolve));
  }

  async startInstance(spec: InstanceSpec): Promise<HvInstance> {
    if (this.stopped) throw new HvError('failed', 'the VM has stopped');
    const tree = this.files.tree(this.uid, spec.basePath);
    for (const file of spec.generatedFiles) {
      tree.put(treeKey(file.path), { kind: 'file', mode: 0o644, uid: 0, gid: 0, mtime: new Date(), data: Buffer.from(file.content) });
    }
    const instance = new StubInstance(spec, tree, this.pids, () => this.processes() < this.limits.maxProcesses);
    for (const folder of spec.sharedFolders) await instance.share(folder).catch(() => undefined);
    this.instances.add(instance);
    instance.ended.then(() => this.instances.delete(instance));
    return instance;
  }

  async resources(): Promise<VmResources> {
    return {
      limited: false,
      warnings: ['the stub backend confines nothing: it runs no real processes'],
      processes: { current: this.processes(), max: this.limits.maxProcesses, maxReached: null },
      memory: { currentBytes: null, maxBytes: null, swapMaxBytes: null, maxReached: null, oomKills: null },
      cpus: null,
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.instances].map((instance) => instance.terminate()));
    this.end();
  }

  private processes(): number {
    let count = 0;
    for (const instance of this.instances) count += instance.running.size + 1;
    return count;
  }
}

export class StubInstance implements HvInstance {
  readonly startedAt = new Date();
  readonly pid: number;
  readonly ended: Promise<void>;
  readonly running = new Set<StubProcess>();
  /** shared folders by their target's key */
  private readonly mounts = new Map<string, string>();
  private terminated = false;
  private end!: () => void;

  constructor(
    private readonly spec: InstanceSpec,
    private readonly tree: Tree,
    private readonly pids: PidCounter,
    private readonly mayStartProcess: () => boolean,
  ) {
    this.pid = pids.take();
    this.ended = new Promise((resolve) => (this.end = resolve));
  }

  async spawn(spec: LaunchSpec): Promise<HvProcess> {
    if (this.terminated) throw new HvError('failed', 'the instance has ended');
    if (typeof spec.user === 'string' && !this.hasUser(spec.user)) {
      throw new HvError('user-not-found', `the distribution has no user ${spec.user}`, 67);
    }
    const files = this.guestFiles();
    const name = spec.executable ?? spec.argv[0] ?? '';
    const program = findProgram(name, spec.env, files);
    if (program === undefined) throw new HvError('launch-failed', `${name}: not found (or not a program the stub implements)`, 127);
    if (!this.mayStartProcess()) throw new HvError('out-of-resources', 'the VM has as many processes as it may (maxPids)');
    const process = new StubProcess({
      pid: this.pids.take(),
      args: spec.argv.slice(1),
      env: spec.env,
      cwd: spec.cwd ?? '/',
      hostname: this.spec.hostname,
      tty: spec.tty,
      files,
      run: program,
    });
    this.running.add(process);
    process.exited.then(() => this.running.delete(process));
    return process;
  }

  async share(folder: SharedFolder): Promise<void> {
    const info = await stat(folder.hostPath).catch(() => undefined);
    if (!info?.isDirectory()) throw new HvError('not-permitted', `${folder.hostPath} is not a folder you may share`);
    const target = treeKey(folder.target);
    if (target === '') throw new HvError('bad-path', 'a folder cannot be shared over the root');
    // As init does: the target is made when missing.
    this.tree.mkdirs(target);
    this.mounts.set(target, folder.hostPath);
  }

  async unshare(target: string): Promise<void> {
    if (!this.mounts.delete(treeKey(target))) throw new HvError('bad-path', `nothing is shared at ${target}`);
  }

  async processCount(): Promise<number> {
    return this.terminated ? 0 : this.running.size + 1;
  }

  async terminate(): Promise<void> {
    if (this.terminated) return this.ended;
    this.terminated = true;
    await Promise.all([...this.running].map((process) => process.kill(SIGKILL).catch(() => undefined)));
    this.end();
  }

  private hasUser(name: string): boolean {
    const key = this.tree.resolve('/etc/passwd');
    const passwd = key === undefined ? undefined : this.tree.get(key);
    if (passwd?.kind !== 'file') return name === 'root';
    return passwd.data.toString('utf8').split('\n').some((line) => line.split(':')[0] === name);
  }

  /** The host folder `path` is in when it is under a shared folder (the longest target wins). */
  private hostPathOf(path: string): string | undefined {
    const key = treeKey(path);
    let best: string | undefined;
    for (const target of this.mounts.keys()) {
      if ((key === target || key.startsWith(`${target}/`)) && target.length > (best?.length ?? -1)) best = target;
    }
    return best === undefined ? undefined : join(this.mounts.get(best)!, key.slice(best.length));
  }

  private guestFiles(): GuestFiles {
    return {
      isFile: (path) => {
        if (this.hostPathOf(path) !== undefined) return false;
        const key = this.tree.resolve(path);
        return key !== undefined && this.tree.get(key)?.kind === 'file';
      },
      read: async (path) => {
        const host = this.hostPathOf(path);
        if (host !== undefined) return readFile(host).catch((error: NodeJS.ErrnoException) => describe(error));
        const key = this.tree.resolve(path);
        const node = key === undefined ? undefined : this.tree.get(key);
        if (node === undefined) return NOT_FOUND;
        return node.kind === 'file' ? node.data : 'Is a directory';
      },
      list: async (path) => {
        const host = this.hostPathOf(path);
        if (host !== undefined) return readdir(host).then((names) => names.sort(), (error: NodeJS.ErrnoException) => describe(error));
        const key = this.tree.resolve(path);
        const node = key === undefined ? undefined : this.tree.get(key);
        if (node === undefined) return NOT_FOUND;
        if (node.kind !== 'directory') return [path.slice(path.lastIndexOf('/') + 1)];
        return this.tree.list(key!);
      },
    };
  }
}

function describe(error: NodeJS.ErrnoException): string {
  if (error.code === 'ENOENT') return NOT_FOUND;
  if (error.code === 'EACCES' || error.code === 'EPERM') return 'Permission denied';
  if (error.code === 'EISDIR') return 'Is a directory';
  if (error.code === 'ENOTDIR') return 'Not a directory';
  return error.message;
}
