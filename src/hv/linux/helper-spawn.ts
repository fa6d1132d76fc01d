// Starts the service's helper processes (lxssd-nsexec) with posix_spawn(3) instead of child_process.spawn.
//
// Node's spawn forks the whole service: page tables of a process of a hundred MiB and more are copied, and the
// event loop stands still meanwhile (1.8 ms of every instance start, 43% of the service's time in a cold start,
// more than the namespaces cost). glibc's posix_spawn runs the child in the parent's memory until it execs
// (clone(CLONE_VM | CLONE_VFORK)), so its cost does not grow with the service.
//
// What a helper looks like to its callers is the part of ChildProcess they use: pid, stdio (AF_UNIX sockets, as
// Node's 'pipe' is), kill, exitCode/signalCode, and 'exit' then 'close' with (code, signal). libuv reaps only the
// children it spawned (waitpid of each of their pids), so these are reaped here: on every SIGCHLD each live
// helper is asked with waitpid(pid, WNOHANG). A pid is registered in the same synchronous turn as its spawn,
// before any SIGCHLD callback can run.

import { EventEmitter } from 'node:events';
import { closeSync, constants as fsConstants, openSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { constants as osConstants } from 'node:os';
import { HvError } from '../errors.js';
import { socketPair } from './fd-passing.js';
import {
  addDup2,
  F_DUPFD_CLOEXEC,
  fcntl,
  fileActionsDestroy,
  fileActionsInit,
  O_CLOEXEC,
  POSIX_SPAWN_SETSIGDEF,
  POSIX_SPAWN_SETSIGMASK,
  posixSpawn,
  sigemptyset,
  spawnAttrDestroy,
  spawnAttrInit,
  spawnAttrSetFlags,
  spawnAttrSetSigDefault,
  spawnAttrSetSigMask,
  waitpid,
  WNOHANG,
  errnoName,
} from './libc.js';

export type HelperStdio = 'pipe' | 'ignore' | 'inherit';

export interface HelperSpawnOptions {
  env: Record<string, string>;
  /** what each of the helper's fds 0..n-1 is: a socket to the service ('pipe'), /dev/null, or the service's own (0–2) */
  stdio: readonly HelperStdio[];
}

/** The opaque glibc types, in buffers larger than any glibc's (x86_64: 80, 336 and 128 bytes). */
const FILE_ACTIONS_BYTES = 256;
const SPAWN_ATTR_BYTES = 1024;
const SIGSET_BYTES = 256;

const signalNames = new Map<number, NodeJS.Signals>(
  Object.entries(osConstants.signals).map(([name, number]) => [number, name as NodeJS.Signals]),
);

const live = new Map<number, HelperProcess>();
let listening = false;

function reapAll(): void {
  const status = new Int32Array(1);
  for (const [pid, helper] of live) {
    const reaped = waitpid(pid, status, WNOHANG);
    if (reaped !== pid) continue;
    live.delete(pid);
    if (live.size === 0) stopListening();
    const raw = status[0]!;
    // WIFEXITED / WEXITSTATUS / WTERMSIG of <sys/wait.h>
    const signal = raw & 0x7f;
    if (signal === 0) helper.reaped((raw >> 8) & 0xff, null);
    else helper.reaped(null, signalNames.get(signal) ?? null);
  }
}

// A live helper keeps the process running, as a ChildProcess does (the SIGCHLD listener alone is unref'd);
// the timer also reaps once a second, a fallback that does not depend on every SIGCHLD reaching the listener.
const FALLBACK_REAP_MS = 1000;
let keepAlive: NodeJS.Timeout | undefined;

function startListening(): void {
  if (listening) return;
  listening = true;
  process.on('SIGCHLD', reapAll);
  keepAlive = setInterval(reapAll, FALLBACK_REAP_MS);
}

function stopListening(): void {
  if (!listening) return;
  listening = false;
  process.off('SIGCHLD', reapAll);
  clearInterval(keepAlive);
  keepAlive = undefined;
}

/** What the service needs of a process it started, a helper here or a Node ChildProcess (init in tests). */
export interface Subprocess extends EventEmitter {
  readonly pid?: number | undefined;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  readonly stdio: ReadonlyArray<Readable | Writable | null | undefined>;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  kill(signal?: NodeJS.Signals | number): boolean;
}

/** A helper process, reaped by this module; the subset of ChildProcess the service and its tests use. */
export class HelperProcess extends EventEmitter implements Subprocess {
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  /** the service's end of each of the helper's fds, where it is 'pipe' */
  readonly stdio: Array<Socket | null>;
  private closesNeeded = 1;

  constructor(
    readonly pid: number,
    stdio: Array<Socket | null>,
  ) {
    super();
    this.stdio = stdio;
    // As Node's ChildProcess: 'close' once the helper has exited and every stream but its stdin has closed.
    stdio.forEach((stream, fd) => {
      if (!stream || fd === 0) return;
      this.closesNeeded++;
      stream.once('close', () => this.maybeClose());
    });
  }

  get stdin(): Socket | null {
    return this.stdio[0] ?? null;
  }

  get stdout(): Socket | null {
    return this.stdio[1] ?? null;
  }

  get stderr(): Socket | null {
    return this.stdio[2] ?? null;
  }

  /** Signals the helper unless it has been reaped (its pid may then be another process's). */
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    if (this.exitCode !== null || this.signalCode !== null) return false;
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  /** @internal called by the reaper */
  reaped(code: number | null, signal: NodeJS.Signals | null): void {
    this.exitCode = code;
    this.signalCode = signal;
    // Its stdin has no reader any more: writes would only fail (Node's ChildProcess destroys it too).
    this.stdin?.destroy();
    this.emit('exit', code, signal);
    this.maybeClose();
  }

  private maybeClose(): void {
    if (--this.closesNeeded === 0) this.emit('close', this.exitCode, this.signalCode);
  }
}

/** Moves `fd` to a number of at least `floor` (close-on-exec), so no dup2 of the spawn overwrites it first. */
function lifted(fd: number, floor: number): number {
  if (fd >= floor) return fd;
  const copy = Number(fcntl(fd, F_DUPFD_CLOEXEC, 'int', floor));
  if (copy < 0) throw new HvError('out-of-resources', 'cannot start a helper process: out of descriptors');
  closeSync(fd);
  return copy;
}

/** errno names that mean the service (or the host) is out of descriptors, memory or processes, not a bad request */
const OUT_OF_RESOURCES: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'ENOBUFS', 'EAGAIN']);

/** HvError `out-of-resources` for those; any other failure is a plain Error (a bug here, or a broken host). */
function outOfResources(what: string, code: string): Error {
  const message = `cannot start a helper process: ${what} failed with ${code}`;
  return OUT_OF_RESOURCES.has(code) ? new HvError('out-of-resources', message) : new Error(message);
}

/**
 * Spawns `program` with `args`; throws HvError `out-of-resources` when there are no descriptors or processes
 * left for it. The program must exist and be executable (a failed exec is exit code 127, as with Node).
 */
export function spawnHelper(program: string, args: readonly string[], options: HelperSpawnOptions): HelperProcess {
  const count = options.stdio.length;
  const local: Array<number | null> = [];
  const remote: number[] = [];
  const made: number[] = [];
  const fileActions = Buffer.alloc(FILE_ACTIONS_BYTES);
  const attr = Buffer.alloc(SPAWN_ATTR_BYTES);
  let actionsReady = false;
  let attrReady = false;
  try {
    for (let fd = 0; fd < count; fd++) {
      const kind = options.stdio[fd];
      if (kind === 'pipe') {
        let mine: number;
        let theirs: number;
        try {
          [mine, theirs] = socketPair();
        } catch (error) {
          throw outOfResources('socketpair', (error as { code?: string }).code ?? 'an error');
        }
        made.push(mine, theirs);
        theirs = lifted(theirs, count);
        made[made.length - 1] = theirs;
        local.push(mine);
        remote.push(theirs);
      } else if (kind === 'ignore') {
        let nul: number;
        try {
          nul = openSync('/dev/null', fsConstants.O_RDWR | O_CLOEXEC);
        } catch (error) {
          throw outOfResources('open /dev/null', (error as NodeJS.ErrnoException).code ?? 'an error');
        }
        made.push(nul);
        nul = lifted(nul, count);
        made[made.length - 1] = nul;
        local.push(null);
        remote.push(nul);
      } else if (kind === 'inherit' && fd <= 2) {
        local.push(null);
        remote.push(fd);
      } else {
        throw new Error(`spawnHelper: fd ${fd} cannot be ${String(kind)}`);
      }
    }

    if (fileActionsInit(fileActions) !== 0) throw outOfResources('posix_spawn_file_actions_init', 'ENOMEM');
    actionsReady = true;
    for (let fd = 0; fd < count; fd++) {
      // dup2 onto itself (an inherited 0–2) clears close-on-exec, as glibc documents since 2.29.
      const err = addDup2(fileActions, remote[fd]!, fd);
      if (err !== 0) throw outOfResources('posix_spawn_file_actions_adddup2', errnoName(err));
    }
    if (spawnAttrInit(attr) !== 0) throw outOfResources('posix_spawnattr_init', 'ENOMEM');
    attrReady = true;
    // The helper starts as Node's children do: no signal blocked, every disposition the default (the service
    // ignores SIGPIPE, which an exec would otherwise hand down).
    // Every bit set, not sigfillset(): that leaves out glibc's own two real-time signals (32, 33), which its
    // posix_spawn then hands to the program ignored.
    const none = Buffer.alloc(SIGSET_BYTES);
    const all = Buffer.alloc(SIGSET_BYTES, 0xff);
    sigemptyset(none);
    spawnAttrSetSigMask(attr, none);
    spawnAttrSetSigDefault(attr, all);
    spawnAttrSetFlags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    const argv = [program, ...args, null];
    const envp = [...Object.entries(options.env).map(([key, value]) => `${key}=${value}`), null];
    const pid = new Int32Array(1);
    const err = posixSpawn(pid, program, fileActions, attr, argv, envp);
    if (err !== 0) throw outOfResources('posix_spawn', errnoName(err));

    // The helper has its copies: the service keeps only its own ends.
    for (const fd of remote) if (fd > 2) closeSync(fd);
    made.length = 0;
    const stdio = local.map((fd, index) =>
      fd === null ? null : new Socket({ fd, readable: index !== 0, writable: true }),
    );
    const helper = new HelperProcess(pid[0]!, stdio);
    live.set(helper.pid, helper);
    startListening();
    return helper;
  } catch (error) {
    for (const fd of made) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    throw error;
  } finally {
    if (actionsReady) fileActionsDestroy(fileActions);
    if (attrReady) spawnAttrDestroy(attr);
  }
}
