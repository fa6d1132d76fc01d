// The Linux "utility VM" of one user: a holder process owning the user's user namespace (its id mapping),
// and the instances in it — each a new mount/PID/UTS/IPC namespace with the distribution's root pivoted and
// our agent as PID 1 at /init, spoken to over its channel. Everything dies with the service: the helper
// processes carry a parent-death signal, and PID 1's death ends its whole PID namespace. Every process of the VM
// (holder, helpers, instances) is born in the VM's cgroup (./cgroup.ts), which goes when the VM does.

import type { HelperProcess } from './helper-spawn.js';
import { once } from 'node:events';
import { closeSync, constants, existsSync, fstatSync, openSync, readFileSync, readlinkSync } from 'node:fs';
import { readdir, readlink } from 'node:fs/promises';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { ReadStream } from 'node:tty';
import { HvError } from '../errors.js';
import type {
  ExitStatus,
  GuestSetup,
  HvInstance,
  HvProcess,
  HvVm,
  InstanceSpec,
  LaunchSpec,
  SharedFolder,
  VmResources,
} from '../types.js';
import type { VmCgroup } from './cgroup.js';
import type { LinuxDistroFiles } from './distro-files.js';
import { closeAll, detachedMountTree, stdioPair } from './fd-passing.js';
import { InstanceProcfs } from './instance-procfs.js';
import { LibcError, O_CLOEXEC, O_PATH } from './libc.js';
import { InitChannel, InitError, initPath, LaunchError } from './init-channel.js';
import { type IdMapping, readReportedPid, spawnInNamespace } from './nsexec.js';
import { type GuestPlan, guestPlan } from '../guest-config.js';
import { type GuestSetupAnswer, receiveWslConf, sendGuestSetup } from './guest-setup-channel.js';

const BUSYBOX = '/bin/busybox';
const INSTANCE_PID_FD = 5;
const GUEST_SETUP_FD = 6;
const TERMINATE_GRACE_MS = 2000;
/** errno names that mean the service (or the host) is out of descriptors or memory, not that the request is wrong */
const OUT_OF_RESOURCES = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'ENOBUFS']);

/** Keeps the last few KiB a helper printed, for the error when it fails. */
function stderrTail(child: HelperProcess): () => string {
  let tail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4000);
  });
  return () => tail.trim();
}

function exited(child: HelperProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return once(child, 'exit').then(() => undefined);
}

/** What init's refusal to mount means to the caller: a target that cannot be a folder, or one it may not use. */
function mountFailure(error: unknown): unknown {
  if (!(error instanceof InitError)) return error;
  if (['ENOTDIR', 'ENOENT', 'ELOOP', 'EEXIST', 'ENAMETOOLONG'].includes(error.code)) return new HvError('bad-path', error.message);
  if (['EACCES', 'EPERM', 'EROFS'].includes(error.code)) return new HvError('not-permitted', error.message);
  return error;
}

export class LinuxVm implements HvVm {
  readonly startedAt = new Date();
  readonly ended: Promise<void>;
  /** set by whoever chose the mapping (see id-maps.ts) */
  warnings: readonly string[] = [];
  private readonly instances = new Set<LinuxInstance>();
  /** settles once the VM's cgroup is gone, after the holder has ended */
  private readonly cgroupRemoved: Promise<void>;
  /** the holder has exited: an instance that starts now is ended at once */
  private dead = false;

  private constructor(
    private readonly holder: HelperProcess,
    readonly pid: number,
    private readonly uid: number,
    private readonly files: LinuxDistroFiles,
    private readonly cgroup: VmCgroup,
  ) {
    this.ended = exited(holder).then(() => this.holderGone());
    // However the holder ends, what is left in the VM's groups is ended with them.
    this.cgroupRemoved = exited(holder).then(() => cgroup.remove());
  }

  /** Boots the VM: a holder that does nothing but keep the user namespace alive, inside the VM's cgroup. */
  static async start(uid: number, mapping: IdMapping, files: LinuxDistroFiles, cgroup: VmCgroup): Promise<LinuxVm> {
    let holder: HelperProcess;
    try {
      holder = spawnInNamespace({
        mapping,
        argv: [BUSYBOX, 'sleep', '2147483647'],
        pidFd: 3,
        stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
        cgroups: cgroup.folders,
      });
    } catch (error) {
      await cgroup.remove();
      throw error;
    }
    const failure = stderrTail(holder);
    try {
      const pid = await readReportedPid(holder, 3);
      return new LinuxVm(holder, pid, uid, files, cgroup);
    } catch (error) {
      holder.kill('SIGKILL');
      await exited(holder);
      await cgroup.remove();
      throw new HvError('failed', `the VM did not start: ${failure() || (error as Error).message}`);
    }
  }

  async resources(): Promise<VmResources> {
    return this.cgroup.resources();
  }

  /** Sets the guest up from its /etc/wsl.conf, as WSL's init does, then starts it with our /init as PID 1. */
  async startInstance(spec: InstanceSpec): Promise<HvInstance> {
    try {
      return await this.bootInstance(spec);
    } catch (error) {
      if (!(await this.files.present(this.uid, spec.basePath).catch(() => true))) {
        throw new HvError('files-missing', `the root filesystem of ${spec.name} is missing or cannot be entered`);
      }
      throw error;
    }
  }

  private async bootInstance(spec: InstanceSpec): Promise<LinuxInstance> {
    const helper = spawnInNamespace({
      joinUserns: this.pid,
      newPid: true,
      newUts: true,
      newIpc: true,
      instanceRoot: join(spec.basePath, 'rootfs'),
      initFile: initPath(),
      argv: ['/init'],
      pidFd: INSTANCE_PID_FD,
      setupFd: GUEST_SETUP_FD,
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
      cgroups: this.cgroup.folders,
    });
    // In the same tick as the spawn: the channel must own fd 4 before Node reads from it.
    const channel = new InitChannel(helper);
    const failure = stderrTail(helper);
    const reportedPid = readReportedPid(helper, INSTANCE_PID_FD);
    // Sent now, read by /init as soon as it runs: no round trip of its own after the start.
    const hello = channel.hello();
    // Both awaited below, unless the setup fails first.
    reportedPid.catch(() => undefined);
    hello.catch(() => undefined);
    try {
      // The helper reads /etc/wsl.conf inside the root as the owner, and writes what the plan generates there.
      const setupChannel = (helper.stdio as unknown as Socket[])[GUEST_SETUP_FD]!;
      const plan = guestPlan(spec, await receiveWslConf(setupChannel));
      sendGuestSetup(setupChannel, guestSetupOf(plan));
      const pid = await reportedPid;
      await hello;
      const instance = new LinuxInstance(helper, channel, pid, plan.guest, this.uid, this.files);
      if (this.dead) throw new Error('the VM stopped while the distribution was starting');
      this.instances.add(instance);
      instance.ended.then(() => this.instances.delete(instance));
      return instance;
    } catch (error) {
      helper.kill('SIGKILL');
      channel.close();
      await exited(helper);
      throw new HvError('failed', `the distribution did not start: ${failure() || (error as Error).message}`);
    }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.instances].map((instance) => instance.terminate()));
    this.holder.kill('SIGKILL');
    await this.ended;
    await this.cgroupRemoved;
  }

  /**
   * The holder has exited — stopped, or killed from outside (`kill -9` of it on the host): its instances go
   * with it, so nothing is left running in a VM the service reports stopped. `ended` settles after them.
   */
  private async holderGone(): Promise<void> {
    this.dead = true;
    await Promise.all([...this.instances].map((instance) => instance.kill()));
  }
}

/**
 * What the instance's helper sets up from the plan: the hostname, the shared folders that exist, and the
 * generated files (a distribution whose file is a dangling link, e.g. to a resolver it runs itself, keeps it).
 */
function guestSetupOf(plan: GuestPlan): GuestSetupAnswer {
  const files = [...plan.generatedFiles];
  if (plan.generateResolvConf) {
    const resolv = readFileSync('/etc/resolv.conf', 'utf8');
    files.push({
      path: '/etc/resolv.conf',
      content: `# Generated by lxssd from the host's; set [network] generateResolvConf = false in /etc/wsl.conf to keep your own.\n${resolv}`,
    });
  }
  const binds = plan.guest.shared
    .filter((folder) => existsSync(folder.hostPath))
    .map((folder) => ({ source: folder.hostPath, target: folder.target, readOnly: folder.readOnly }));
  return { hostname: plan.guest.hostname, binds, files };
}

class LinuxInstance implements HvInstance {
  readonly startedAt = new Date();
  readonly ended: Promise<void>;
  /** the instance's own procfs, opened at start (./instance-procfs.ts); undefined: count from the host's /proc */
  private readonly procfs: InstanceProcfs | undefined;
  private readonly pidNamespace: string | undefined;

  constructor(
    private readonly helper: HelperProcess,
    private readonly channel: InitChannel,
    readonly pid: number,
    readonly guest: GuestSetup,
    private readonly uid: number,
    private readonly files: LinuxDistroFiles,
  ) {
    // Taken once, right after start, while the instance's PID 1 surely exists and nothing of the guest runs yet.
    this.procfs = InstanceProcfs.open(pid);
    this.pidNamespace = this.procfs === undefined ? pidNamespaceOf(pid) : undefined;
    this.ended = exited(helper).then(() => {
      channel.close();
      this.procfs?.close();
    });
  }

  async spawn(spec: LaunchSpec): Promise<HvProcess> {
    const user = spec.user === undefined ? {} : { uid: spec.user };
    const common = { argv: spec.argv, executable: spec.executable, env: spec.env, cwd: spec.cwd, ...user };
    try {
      if (spec.tty) {
        const launched = await this.channel.launch({ ...common, pty: spec.tty });
        const terminal = new ReadStream(launched.ptyMaster!);
        const id = launched.id;
        return {
          pid: launched.pid,
          stdin: null,
          stdout: null,
          stderr: null,
          terminal,
          exited: launched.exit.then(exitStatusOf),
          kill: (signal) => this.channel.signal(id, signal).catch(exitedFirst),
          resize: (cols, rows) => this.channel.resize(id, cols, rows).catch(exitedFirst),
        };
      }
      const { child, local } = stdioPair('socket');
      let launched;
      try {
        launched = await this.channel.launch({ ...common, stdio: child });
      } catch (error) {
        closeAll(local);
        throw error;
      }
      // Wrapped only now, and handed over with no I/O turn in between: a socket reads as soon as it exists, and
      // the EOF of a process that printed nothing would end it (and emit 'close') before its reader was attached.
      const stdin = new Socket({ fd: local[0], readable: false, writable: true });
      const stdout = new Socket({ fd: local[1], readable: true, writable: false });
      const stderr = new Socket({ fd: local[2], readable: true, writable: false });
      const id = launched.id;
      return {
        pid: launched.pid,
        stdin,
        stdout,
        stderr,
        terminal: null,
        exited: launched.exit.then(exitStatusOf),
        kill: (signal) => this.channel.signal(id, signal).catch(exitedFirst),
        resize: async () => {
          throw new HvError('failed', 'not a terminal');
        },
      };
    } catch (error) {
      // fork(2) refused with EAGAIN: the VM is at its process limit (its cgroup's pids.max); later may work.
      if (error instanceof LaunchError && error.code === 'EAGAIN') {
        throw new HvError('out-of-resources', `the VM has as many processes as it may (maxPids): ${error.message}`);
      }
      if (error instanceof LaunchError) {
        throw new HvError(error.exitCode === 67 ? 'user-not-found' : 'launch-failed', error.message, error.exitCode);
      }
      if (error instanceof LibcError && OUT_OF_RESOURCES.has(error.code)) {
        throw new HvError('out-of-resources', `the service cannot make the process's stdio: ${error.message}`);
      }
      throw error;
    }
  }

  /**
   * Binds a host folder into the running instance: checked readable as the owner, opened, verified to be that
   * same folder (no swap in between), detached as a mount tree and handed to /init to attach at the target.
   */
  async share(folder: SharedFolder): Promise<void> {
    const identity = await this.files.readableFolder(this.uid, folder.hostPath);
    if (identity === undefined) {
      throw new HvError('not-permitted', `you may not read the host folder ${folder.hostPath}`);
    }
    let fd: number;
    try {
      fd = openSync(folder.hostPath, O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW | O_CLOEXEC);
    } catch (error) {
      if (OUT_OF_RESOURCES.has((error as NodeJS.ErrnoException).code ?? '')) {
        throw new HvError('out-of-resources', `cannot open ${folder.hostPath}: ${(error as Error).message}`);
      }
      throw new HvError('not-permitted', `${folder.hostPath} is not a folder you may share: ${(error as Error).message}`);
    }
    let tree: number;
    try {
      const stat = fstatSync(fd);
      if (`${stat.dev}:${stat.ino}` !== identity) {
        throw new HvError('not-permitted', `${folder.hostPath} changed while it was being shared`);
      }
      tree = detachedMountTree(fd, folder.readOnly);
    } finally {
      closeSync(fd);
    }
    try {
      await this.channel.mount(folder.target, tree, folder.readOnly);
    } catch (error) {
      throw mountFailure(error);
    }
  }

  async unshare(target: string): Promise<void> {
    await this.channel.unmount(target);
  }

  async processCount(): Promise<number> {
    if (this.procfs !== undefined) return this.procfs.count();
    if (!this.pidNamespace) return 0;
    let count = 0;
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const ns = await readlink(`/proc/${entry}/ns/pid`).catch(() => undefined);
      if (ns === this.pidNamespace) count++;
    }
    return count;
  }

  /** Ends it at once: SIGKILL of its helper takes PID 1, and with it the whole PID namespace. */
  async kill(): Promise<void> {
    if (this.helper.exitCode === null && this.helper.signalCode === null) this.helper.kill('SIGKILL');
    await this.ended;
  }

  async terminate(): Promise<void> {
    if (this.helper.exitCode !== null || this.helper.signalCode !== null) return;
    const grace = setTimeout(() => this.helper.kill('SIGKILL'), TERMINATE_GRACE_MS);
    try {
      await this.channel.terminate().catch(() => this.helper.kill('SIGKILL'));
      await this.ended;
    } finally {
      clearTimeout(grace);
    }
  }
}

function pidNamespaceOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}

/** init's ESRCH for a signal or resize: the process was reported exited before the request reached it. */
function exitedFirst(error: unknown): never {
  if (error instanceof InitError && error.code === 'ESRCH') throw new HvError('exited', error.message);
  throw error;
}

function exitStatusOf(status: ExitStatus): ExitStatus {
  return { exitCode: status.exitCode, signal: status.signal };
}
