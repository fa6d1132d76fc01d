// Node side of the static helper `lxssd-nsexec` (src/hv/linux/nsexec/nsexec.c): runs a program in a new user +
// mount namespace with id maps the service picks (or in an existing user namespace), optionally chrooted, or as
// PID 1 of a distribution instance. The helper is spawned directly (no shell); the program inherits its stdio pipes
// (and any further fds in `stdio`, e.g. fds 3 and 4 for the instance agent), so tar streams flow program <-> service
// without a copy in between.
//
// A per-user "VM" is a holder: `spawnInNamespace({ mapping, argv: ['/bin/busybox', 'sleep', '2147483647'],
// pidFd: 3, stdio: ['ignore', 'ignore', 'pipe', 'pipe'] })`, whose pid (`readReportedPid(child, 3)`) is then the
// `joinUserns` of each instance: `{ joinUserns, newPid, newUts, newIpc, hostname, instanceRoot, binds, initFile,
// argv: ['/init'], pidFd }`. An instance's program is PID 1 of its PID namespace: when it exits, or when the helper
// is SIGKILLed (parent-death signal), the kernel kills everything in the instance. PID 1 only receives the signals
// it has a handler for (SIGKILL aside): a forwarded SIGTERM does nothing to a PID 1 without one. With `cgroups`, the
// helper first moves itself into those groups (the VM's), so the holder, each instance and all they start are born
// inside them.
//
// Helper exit status: the program's own, 128+N if it died of signal N, 127 program not found, 126 not executable,
// 125 the helper failed before exec (bad arguments, map rejected, chroot/mount/pivot failed; the reason is on stderr).

import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type HelperProcess, type HelperStdio, spawnHelper } from './helper-spawn.js';

export interface IdMapEntry {
  inner: number;
  outer: number;
  count: number;
}

export interface IdMapping {
  uids: IdMapEntry[];
  gids: IdMapEntry[];
}

/** A host folder (or file) shared into an instance, like WSL's drvfs under /mnt. */
export interface BindMount {
  /** Absolute host path, resolved with the namespace's mapped host ids (the user's rights, nothing more). */
  source: string;
  /** Absolute path inside the instance root, no `..` (made if missing: a folder, or an empty file for a file). */
  target: string;
  readOnly?: boolean;
}

export interface NsExecOptions {
  /** A new user namespace with these maps. Exactly one of `mapping` and `joinUserns`. */
  mapping?: IdMapping;
  /** Host pid of a process whose user namespace to join (a holder's program, learnt from its `pidFd`). */
  joinUserns?: number;
  /** New PID namespace: the program is its PID 1. Required by `instanceRoot`. */
  newPid?: boolean;
  /** New UTS namespace. Required by `hostname`. */
  newUts?: boolean;
  /** New IPC namespace. */
  newIpc?: boolean;
  hostname?: string;
  /** Host directory to chroot into (resolved with the mapped credentials, so the outer uid must reach it). */
  root?: string;
  /**
   * A distribution's root folder (absolute host path, reachable by the mapped ids): /proc, read-only /sys, /dev
   * (null zero full random urandom tty, devpts, shm), /run and /tmp are set up in it, then it is pivoted to `/`.
   * Excludes `root`; needs `newPid`.
   */
  instanceRoot?: string;
  /** Host folders/files mounted into the instance (needs `instanceRoot`). */
  binds?: BindMount[];
  /** Host file bound read-only at /init in the instance (needs `instanceRoot`): the agent binary. */
  initFile?: string;
  /**
   * The helper's fd (>= 3, an entry of `stdio`: 'pipe', a socket) for the guest setup exchange
   * (./guest-setup-channel.ts): before anything is mounted in the instance root it sends the root's /etc/wsl.conf
   * there and reads back the hostname, binds and files to write inside the root. Needs `instanceRoot`.
   */
  setupFd?: number;
  /** Working directory, inside `root` / the instance when one is given. */
  cwd?: string;
  /**
   * The helper writes the program's host pid + "\n" to this fd of its own (>= 3, an entry of `stdio`, e.g.
   * 'pipe') once the program's process is set up and about to exec, then closes it; the program does not get it.
   */
  pidFd?: number;
  /**
   * argv[0] is the program, an absolute path: on the HOST (opened before the chroot, so it need not exist inside
   * `root`), or with `instanceRoot` INSIDE the instance (looked up after the pivot, e.g. `/init`).
   */
  argv: string[];
  /** The program's whole environment. Default: only a standard PATH, so the service's own variables never leak in. */
  env?: Record<string, string>;
  stdio?: HelperStdio[] | HelperStdio;
  /**
   * cgroup folders (absolute host paths: one per v1 controller, or one v2 group) the helper moves itself into
   * before it forks anything, so the program and all it starts are born inside them.
   */
  cgroups?: readonly string[];
}

export const NSEXEC_EXIT_HELPER_FAILED = 125;
export const NSEXEC_EXIT_NOT_EXECUTABLE = 126;
export const NSEXEC_EXIT_NOT_FOUND = 127;

const MAX_ID = 0xffff_ffff;
const DEFAULT_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
};

/** Absolute path of the built helper. This module compiles to dist/src/hv/linux/, the helper to dist/native/. */
export function nsexecPath(): string {
  const path = fileURLToPath(new URL('../../../native/lxssd-nsexec', import.meta.url));
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`lxssd-nsexec helper not found (or not executable) at ${path}: run npm run build`);
  }
  return path;
}

/** The kernel's map syntax as the helper takes it: "0 1000 1,1 100000 65536". Validates like the kernel would. */
export function formatIdMap(entries: IdMapEntry[]): string {
  if (entries.length === 0) throw new RangeError('an id map needs at least one entry');
  return entries
    .map(({ inner, outer, count }) => {
      for (const [name, value] of [['inner', inner], ['outer', outer], ['count', count]] as const) {
        if (!Number.isSafeInteger(value) || value < 0 || value > MAX_ID) {
          throw new RangeError(`id map ${name} must be an integer in 0..${MAX_ID}, got ${value}`);
        }
      }
      if (count < 1) throw new RangeError('id map count must be at least 1');
      if (inner + count > MAX_ID + 1 || outer + count > MAX_ID + 1) {
        throw new RangeError(`id map range ${inner} ${outer} ${count} passes ${MAX_ID}`);
      }
      return `${inner} ${outer} ${count}`;
    })
    .join(',');
}

/** Inner ids are host ids. Only for sessions owned by host root: inner root IS host root here. */
export function identityMapping(): IdMapping {
  return {
    uids: [{ inner: 0, outer: 0, count: MAX_ID }],
    gids: [{ inner: 0, outer: 0, count: MAX_ID }],
  };
}

/** Host paths must be absolute; bind paths travel as "SRC:DST[:ro]" (no ':'); targets stay below the root. */
function checkPath(what: string, path: string, kind: 'host' | 'bind source' | 'bind target'): void {
  if (!path.startsWith('/')) throw new Error(`spawnInNamespace: ${what} must be an absolute path: ${path}`);
  if (kind !== 'host' && path.includes(':')) throw new Error(`spawnInNamespace: ${what} may not contain ':': ${path}`);
  if (kind !== 'bind target') return;
  const parts = path.split('/');
  if (parts.includes('..')) throw new Error(`spawnInNamespace: ${what} may not contain '..': ${path}`);
  if (parts.every((part) => part === '' || part === '.')) {
    throw new Error(`spawnInNamespace: ${what} must name something below /: ${path}`);
  }
}

/** Throws on a bind the helper would refuse, or misread (a ':' in its paths). */
export function checkBind(bind: BindMount): void {
  checkPath('bind source', bind.source, 'bind source');
  checkPath('bind target', bind.target, 'bind target');
}

/** A descriptor of the helper's own that the service passes it: 3 or more, with an entry in `stdio`. */
function stdioFd(what: string, fd: number, stdio: NsExecOptions['stdio']): void {
  if (!Number.isSafeInteger(fd) || fd < 3) throw new RangeError(`spawnInNamespace: ${what} must be an fd >= 3, got ${fd}`);
  if (!Array.isArray(stdio) || stdio.length <= fd) {
    throw new Error(`spawnInNamespace: ${what} ${fd} needs an entry in stdio (e.g. 'pipe')`);
  }
}

/**
 * The helper's arguments for `options`; throws before anything starts on a combination it would refuse. Who owns
 * which rule is written at the top of nsexec/nsexec.c: this side owns which options need or exclude which (the
 * helper keeps them only as a plain table) and what only it can see (a pidFd in `stdio`, no ':' in a bind's paths);
 * its checks of values (absolute paths, bind targets, id map ranges) are early copies of the helper's, which refuses
 * them again whoever built the argv.
 */
export function nsexecArgs(options: NsExecOptions): string[] {
  const program = options.argv[0];
  if (program === undefined) throw new Error('spawnInNamespace: argv must name a program');
  const where = options.instanceRoot === undefined ? 'host' : 'instance';
  if (!program.startsWith('/')) {
    throw new Error(`spawnInNamespace: program must be an absolute ${where} path: ${program}`);
  }

  const args: string[] = [];
  if (options.mapping !== undefined && options.joinUserns !== undefined) {
    throw new Error('spawnInNamespace: mapping and joinUserns are mutually exclusive');
  }
  if (options.mapping !== undefined) {
    args.push('--uid-map', formatIdMap(options.mapping.uids), '--gid-map', formatIdMap(options.mapping.gids));
  } else if (options.joinUserns !== undefined) {
    if (!Number.isSafeInteger(options.joinUserns) || options.joinUserns < 1) {
      throw new RangeError(`spawnInNamespace: joinUserns must be a pid, got ${options.joinUserns}`);
    }
    args.push('--join-userns', String(options.joinUserns));
  } else {
    throw new Error('spawnInNamespace: needs mapping or joinUserns');
  }
  if (options.newPid) args.push('--new-pid');
  if (options.newUts) args.push('--new-uts');
  if (options.newIpc) args.push('--new-ipc');
  if (options.hostname !== undefined) {
    // Without a UTS namespace of its own, sethostname would rename the host.
    if (!options.newUts) throw new Error('spawnInNamespace: hostname needs newUts');
    args.push('--hostname', options.hostname);
  }
  if (options.root !== undefined) args.push('--root', options.root);
  if (options.instanceRoot !== undefined) {
    if (options.root !== undefined) throw new Error('spawnInNamespace: instanceRoot and root are mutually exclusive');
    // The instance's /proc is mounted for its own PID namespace.
    if (!options.newPid) throw new Error('spawnInNamespace: instanceRoot needs newPid');
    checkPath('instanceRoot', options.instanceRoot, 'host');
    args.push('--instance-root', options.instanceRoot);
  } else if (options.binds?.length || options.initFile !== undefined) {
    throw new Error('spawnInNamespace: binds and initFile need instanceRoot');
  }
  for (const bind of options.binds ?? []) {
    checkBind(bind);
    args.push('--bind', `${bind.source}:${bind.target}${bind.readOnly ? ':ro' : ''}`);
  }
  if (options.initFile !== undefined) {
    checkPath('initFile', options.initFile, 'host');
    args.push('--init-file', options.initFile);
  }
  if (options.setupFd !== undefined) {
    if (options.instanceRoot === undefined) throw new Error('spawnInNamespace: setupFd needs instanceRoot');
    stdioFd('setupFd', options.setupFd, options.stdio);
    if (options.setupFd === options.pidFd) throw new Error('spawnInNamespace: setupFd and pidFd must differ');
    args.push('--setup-fd', String(options.setupFd));
  }
  if (options.cwd !== undefined) args.push('--cwd', options.cwd);
  if (options.pidFd !== undefined) {
    stdioFd('pidFd', options.pidFd, options.stdio);
    args.push('--pid-fd', String(options.pidFd));
  }
  for (const folder of options.cgroups ?? []) {
    checkPath('cgroup', folder, 'host');
    args.push('--cgroup', folder);
  }
  args.push('--', ...options.argv);
  return args;
}

function ignore(): void {
  // A stream or child error nobody else listens for must not become an uncaught exception (a crash).
}

/**
 * Spawns the helper (which must run as host root; ./helper-spawn.ts: without forking the service). Failures
 * before exec surface as exit code 125, not as throws. A helper that could not be started at all (out of
 * descriptors or processes) throws HvError `out-of-resources`.
 */
export function spawnInNamespace(options: NsExecOptions): HelperProcess {
  const program = nsexecPath();
  const args = nsexecArgs(options);
  const stdio = options.stdio ?? 'pipe';
  const child = spawnHelper(program, args, {
    env: options.env ?? { ...DEFAULT_ENV },
    stdio: typeof stdio === 'string' ? [stdio, stdio, stdio] : stdio,
  });
  // A later failed kill() emits 'error' too; and a helper's stdio may fail (EPIPE) with no reader attached.
  child.on('error', ignore);
  for (const stream of child.stdio) stream?.on('error', ignore);
  return child;
}

/**
 * The host pid the helper reports on `pidFd` (spawned with `stdio[fd] = 'pipe'`). Rejects when the helper closes
 * it without a pid, i.e. it failed before exec (its exit code and stderr say why).
 */
export function readReportedPid(child: HelperProcess, fd: number): Promise<number> {
  const stream = child.stdio[fd];
  if (!stream) return Promise.reject(new Error(`helper fd ${fd} is not a pipe`));
  return new Promise((resolve, reject) => {
    let text = '';
    stream.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.length > 32) stream.destroy(new Error(`unexpected report on fd ${fd}: ${JSON.stringify(text)}`));
    });
    stream.on('error', reject);
    stream.on('close', () => {
      const pid = /^(\d+)\n$/.exec(text) ? Number(text) : NaN;
      if (Number.isSafeInteger(pid) && pid > 0) resolve(pid);
      else reject(new Error(`the helper reported no pid on fd ${fd} (it failed before exec): ${JSON.stringify(text)}`));
    });
  });
}
