// The service's side of one instance's /init (src/hv/linux/init/, docs/init-protocol.md): requests matched to
// answers by id, descriptors on the fd channel, process exits as events. Transport-free of HTTP; knows nothing
// about sessions. It never reads the fd channel through libuv (that would drop SCM_RIGHTS): only fd-passing.ts.

import type { Subprocess } from './helper-spawn.js';
import { EventEmitter } from 'node:events';
import { accessSync, constants as fsConstants } from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { guestSignal } from '../signals.js';
import type { ExitStatus as HvExitStatus } from '../types.js';
import { closeAll, recvFds, trySendFds } from './fd-passing.js';
import { errnoName, LibcError } from './libc.js';
import {
  decodeInitMessage,
  encodeHello,
  encodeLaunch,
  encodeMount,
  encodeResize,
  encodeSignal,
  encodeTerminate,
  encodeUnmount,
  FrameSplitter,
  INIT_PROTOCOL_VERSION,
  InitProtocolError,
  LaunchMode,
  MessageType,
  NO_UID,
  type InitMessage,
} from './init-protocol.js';

/** Absolute path of the built agent. This module compiles to dist/src/hv/linux/, the binary to dist/native/. */
export function initPath(): string {
  const path = fileURLToPath(new URL('../../../native/lxssd-init', import.meta.url));
  try {
    accessSync(path, fsConstants.X_OK);
  } catch {
    throw new Error(`lxssd-init not found (or not executable) at ${path}: run npm run build`);
  }
  return path;
}

/**
 * The stdio for spawning init: fd 3 the control channel, fd 4 the fd channel. Pass it as `stdio` (directly to
 * `spawn`, or to `spawnInNamespace`); stdout/stderr are init's log.
 */
export const INIT_STDIO = ['ignore', 'inherit', 'inherit', 'pipe', 'pipe'] as const;

/**
 * How a launched process ended, as the contract's ExitStatus (../types.ts) says, with the launch it ends: init's
 * "no signal" (0) is null from here on.
 */
export interface ExitStatus extends HvExitStatus {
  readonly id: number;
  readonly pid: number;
}

export interface LaunchOptions {
  /** Exactly the argv: no shell. argv[0] without '/' is searched in the PATH of `env` (like execvpe). */
  argv: readonly string[];
  /**
   * The file to execute when it is not argv[0] (a login shell: `/bin/sh` with argv[0] `-sh`), searched like
   * argv[0] would be. Needs protocol version 2.
   */
  executable?: string;
  /** The whole environment; nothing is added. */
  env?: Readonly<Record<string, string>> | readonly string[];
  /** Absolute, or '~' for the home. Default: the home, else '/'. */
  cwd?: string;
  /** A name from the distribution's /etc/passwd, or a uid (without an entry: gid = uid, home /). Neither: root. */
  user?: string;
  uid?: number;
  /**
   * Pipes mode: the process's stdin, stdout and stderr (any fds: pipe or socket ends; see stdioPair() in
   * fd-passing.ts). launch() takes ownership: they are closed once passed, also when it fails.
   */
  stdio?: readonly [number, number, number];
  /** Pty mode instead: init opens a pty of this size and hands the master back. */
  pty?: { cols: number; rows: number };
}

export interface LaunchedProcess {
  /** The launch id: use it for signal/resize; it is the `id` of its ExitStatus. */
  id: number;
  /** Its pid in the instance's PID namespace. */
  pid: number;
  /**
   * Pty mode: the master fd (close-on-exec), owned by the caller. Read and write it with
   * `new tty.ReadStream(fd)` / `fs.write`, or `new net.Socket({ fd })`; reads fail with EIO once every slave
   * end is closed (the process and its children are gone), which means end of output.
   */
  ptyMaster?: number;
  /** Settles when it exits; rejects with InitClosedError if init goes away first. Safe to ignore. */
  exit: Promise<ExitStatus>;
}

/** init refused a request (an ERROR frame). `code` is the errno name (ESRCH, EBADMSG, ...). */
export class InitError extends Error {
  override name = 'InitError';
  readonly code: string;
  constructor(
    message: string,
    readonly errno: number,
    readonly refType: number,
  ) {
    super(message);
    this.code = errnoName(errno);
  }
}

/** A launch that never ran: exitCode 67 user not found, 125 setup failed, 126 not executable, 127 not found. */
export class LaunchError extends Error {
  override name = 'LaunchError';
  readonly code: string;
  constructor(
    message: string,
    readonly exitCode: number,
    readonly errno: number,
  ) {
    super(message);
    this.code = errnoName(errno);
  }
}

/** init went away (exited, was killed, or the channel was closed) before answering. */
export class InitClosedError extends Error {
  override name = 'InitClosedError';
}

/** An answer from init, with the descriptors its frame carried (LAUNCHED in pty mode: the master). */
/** A frame init answered a request with, and the descriptors that came with it. */
export type Answer = InitMessage & { fds?: number[] };

interface Pending {
  /** The frame type whose answer is awaited, for the checks in onMessage. */
  type: number;
  resolve: (message: Answer) => void;
  reject: (error: Error) => void;
}

/** A request not sent yet: the fd channel had no room for its descriptors. */
interface Outgoing {
  id: number;
  frame: Buffer;
  fds: readonly number[];
}

interface LiveLaunch {
  resolve: (status: ExitStatus) => void;
  reject: (error: Error) => void;
}

export interface InitChannelEvents {
  /** Once, when the channel is gone: every pending request has been rejected. */
  closed: [reason: string];
  /** init ended every process on its own (it got SIGTERM, SIGINT or SIGHUP); 'closed' follows. */
  terminated: [];
  /**
   * A frame that answers nothing of ours: an ERROR for no pending request (e.g. id 0: a frame init could not
   * attribute), an EXITED for no launch waited on.
   */
  'protocol-error': [error: InitError];
}

const RESOLVES: Partial<Record<number, InitMessage['type']>> = {
  [MessageType.Hello]: 'hello-ack',
  [MessageType.Launch]: 'launched',
  [MessageType.Signal]: 'ok',
  [MessageType.Resize]: 'ok',
  [MessageType.Mount]: 'mounted',
  [MessageType.Unmount]: 'ok',
  [MessageType.Terminate]: 'terminated',
};

/**
 * One instance's /init, spawned with INIT_STDIO. Construct it in the same tick as the spawn: Node starts
 * reading every 'pipe' stdio socket on the next turn of the event loop, and a read of the fd channel would
 * drop the descriptors on it, so the constructor stops that reader first.
 */
export class InitChannel extends EventEmitter<InitChannelEvents> {
  protected readonly control: Socket;
  private readonly fdSocket: Socket;
  protected readonly fdChannel: number;
  private readonly splitter = new FrameSplitter();
  protected readonly pending = new Map<number, Pending>();
  private readonly launches = new Map<number, LiveLaunch>();
  /**
   * Requests waiting, in order, for room on the fd channel. init empties it as it reads the frames already sent,
   * and answers them: each answer retries. (Waiting for room in a blocking poll instead would stall this event
   * loop, and with it the writes of those very frames, when many launches are asked for at once.)
   */
  private readonly outbox: Outgoing[] = [];
  private nextId = 1;
  protected closedReason: string | undefined;
  private agreedVersion = INIT_PROTOCOL_VERSION;
  /** Settles when the init process itself exits (which may be before or after 'closed'). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly child: Subprocess) {
    super();
    const control = child.stdio[3];
    const fdSocket = child.stdio[4];
    if (!isSocket(control) || !isSocket(fdSocket)) {
      throw new Error("InitChannel: spawn init with stdio[3] and stdio[4] set to 'pipe' (INIT_STDIO)");
    }
    this.control = control;
    this.fdSocket = fdSocket;
    const handle = (fdSocket as unknown as { _handle?: { fd?: number; reading?: boolean; readStop?: () => number } })
      ._handle;
    if (typeof handle?.fd !== 'number' || handle.fd < 0 || typeof handle.readStop !== 'function') {
      throw new Error('InitChannel: the fd channel socket has no file descriptor');
    }
    // Nobody may read it through libuv: its read(2) would discard the SCM_RIGHTS descriptors.
    handle.reading = false;
    handle.readStop();
    this.fdChannel = handle.fd;

    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
      else child.once('exit', (code, signal) => resolve({ code, signal }));
      // It never ran (spawn failed): there will be no 'exit'. (A failed kill() also emits 'error': ignored.)
      child.on('error', (error) => {
        if (child.pid !== undefined) return;
        resolve({ code: null, signal: null });
        this.shutdown(`init could not be spawned: ${error.message}`);
      });
    });
    control.on('data', (chunk: Buffer) => this.onData(chunk));
    control.on('error', (error) => this.shutdown(`control channel error: ${error.message}`));
    control.on('end', () => this.shutdown('init closed the control channel'));
    control.on('close', () => this.shutdown('control channel closed'));
  }

  /** The protocol version frames are encoded in: the newest until HELLO agrees on one. */
  get version(): number {
    return this.agreedVersion;
  }

  /** True once the channel is gone. */
  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  /** The first request: checks the version and learns init's pid (1 as a PID namespace's init). */
  async hello(version = INIT_PROTOCOL_VERSION): Promise<{ version: number; pid: number }> {
    const id = this.allocateId();
    const answer = await this.request(id, MessageType.Hello, encodeHello(id, version));
    if (answer.type !== 'hello-ack') throw new InitProtocolError(`HELLO answered with ${answer.type}`);
    if (answer.version !== version) throw new InitProtocolError(`HELLO ${version} answered with version ${answer.version}`);
    this.agreedVersion = answer.version;
    return { version: answer.version, pid: answer.pid };
  }

  /** Starts a process; resolves once it has exec'd (init used a close-on-exec pipe to know). */
  async launch(options: LaunchOptions): Promise<LaunchedProcess> {
    const stdio = options.stdio ? [...options.stdio] : [];
    let frame: Buffer;
    let id: number;
    try {
      if (options.pty && options.stdio) throw new TypeError('launch: give stdio (pipes mode) or pty, not both');
      if (!options.pty && stdio.length !== 3) throw new TypeError('launch: pipes mode needs stdio: [stdin, stdout, stderr]');
      if (options.user !== undefined && options.uid !== undefined) throw new TypeError('launch: give user or uid, not both');
      if (options.uid !== undefined && (!Number.isInteger(options.uid) || options.uid < 0 || options.uid >= NO_UID)) {
        throw new RangeError(`launch: bad uid ${options.uid}`);
      }
      const env = Array.isArray(options.env)
        ? [...(options.env as readonly string[])]
        : Object.entries((options.env ?? {}) as Record<string, string>).map(([k, v]) => `${k}=${v}`);
      id = this.allocateId();
      frame = encodeLaunch(id, {
        mode: options.pty ? LaunchMode.Pty : LaunchMode.Pipes,
        user: options.user ?? '',
        uid: options.uid ?? NO_UID,
        argv: options.argv,
        env,
        cwd: options.cwd ?? '',
        cols: options.pty?.cols ?? 0,
        rows: options.pty?.rows ?? 0,
        executable: options.executable ?? '',
      }, this.agreedVersion);
    } catch (error) {
      closeAll(stdio);
      throw error;
    }
    let resolveExit!: (status: ExitStatus) => void;
    let rejectExit!: (error: Error) => void;
    const exit = new Promise<ExitStatus>((resolve, reject) => {
      resolveExit = resolve;
      rejectExit = reject;
    });
    exit.catch(() => undefined); // only a caller who awaits it should see a rejection
    // Registered before sending: EXITED can arrive in the same chunk as LAUNCHED.
    this.launches.set(id, { resolve: resolveExit, reject: rejectExit });
    try {
      const answer = await this.request(id, MessageType.Launch, frame, stdio);
      if (answer.type !== 'launched') throw new InitProtocolError(`LAUNCH answered with ${answer.type}`);
      return { id, pid: answer.pid, ptyMaster: answer.fds?.[0], exit };
    } catch (error) {
      this.launches.delete(id);
      throw error;
    }
  }

  /** kill(2) of the process (of its process group in pty mode). Rejects with ESRCH once it was reported exited. */
  async signal(id: number, signal: number | NodeJS.Signals): Promise<void> {
    const number = guestSignal(signal);
    if (number === undefined) throw new RangeError(`unknown signal ${String(signal)}`);
    const requestId = this.allocateId();
    await this.request(requestId, MessageType.Signal, encodeSignal(requestId, id, number));
  }

  /** TIOCSWINSZ on the pty (the process gets SIGWINCH). Rejects with ENOTTY for a pipes-mode process. */
  async resize(id: number, cols: number, rows: number): Promise<void> {
    const requestId = this.allocateId();
    await this.request(requestId, MessageType.Resize, encodeResize(requestId, id, cols, rows));
  }

  /**
   * Binds a host folder at `target` inside the instance. `treeFd` should be a detached mount tree
   * (detachedMountTree() in fd-passing.ts); a plain folder fd works only when init shares the service's mount
   * namespace. The fd is passed and then closed here (ownership moves to this call).
   */
  async mount(target: string, treeFd: number, readOnly = false): Promise<void> {
    let frame: Buffer;
    let id: number;
    try {
      id = this.allocateId();
      frame = encodeMount(id, target, readOnly);
    } catch (error) {
      closeAll([treeFd]);
      throw error;
    }
    await this.request(id, MessageType.Mount, frame, [treeFd]);
  }

  /** umount2(target, MNT_DETACH). */
  async unmount(target: string): Promise<void> {
    const id = this.allocateId();
    await this.request(id, MessageType.Unmount, encodeUnmount(id, target));
  }

  /**
   * Ends every process of the instance (SIGTERM, SIGKILL after 500 ms; SIGKILL at once with `force`). EXITED
   * frames for them come first, then TERMINATED, then init exits 0.
   */
  async terminate(force = false): Promise<void> {
    const id = this.allocateId();
    await this.request(id, MessageType.Terminate, encodeTerminate(id, force));
  }

  /** Closes the control channel: init then ends every process and exits (status 3). */
  close(): void {
    this.control.destroy();
    this.fdSocket.destroy();
    this.shutdown('closed by the service');
  }

  /** A fresh request id: never 0, never one still pending or running. */
  allocateId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = this.nextId >= 0xffff_fffe ? 1 : this.nextId + 1;
      if (!this.pending.has(id) && !this.launches.has(id)) return id;
    }
  }

  /** The answer to request `id` of frame type `type`, once it comes (the frame is sent apart from this). */
  protected awaitAnswer(id: number, type: number): Promise<Answer> {
    return new Promise((resolve, reject) => {
      if (this.closedReason !== undefined) {
        reject(new InitClosedError(`init channel closed: ${this.closedReason}`));
        return;
      }
      this.pending.set(id, { type, resolve, reject });
    });
  }

  private request(id: number, type: number, frame: Buffer, fds: readonly number[] = []): Promise<Answer> {
    if (this.closedReason !== undefined) {
      closeAll(fds);
      return Promise.reject(new InitClosedError(`init channel closed: ${this.closedReason}`));
    }
    const answer = this.awaitAnswer(id, type);
    // Requests go out in the order asked, so one never overtakes another waiting for room.
    if (this.outbox.length > 0 || !this.send({ id, frame, fds })) this.outbox.push({ id, frame, fds });
    return answer;
  }

  /** Sends one request; false when the fd channel has no room for its descriptors now (they are kept). */
  private send(request: Outgoing): boolean {
    if (request.fds.length > 0) {
      let sent: boolean;
      try {
        // The ordering rule: descriptors first, then the frame that announces them.
        sent = trySendFds(this.fdChannel, request.fds);
      } catch (error) {
        closeAll(request.fds);
        const pending = this.pending.get(request.id);
        this.pending.delete(request.id);
        pending?.reject(error as Error);
        return true;
      }
      if (!sent) return false;
      closeAll(request.fds);
    }
    this.control.write(request.frame);
    return true;
  }

  private flushOutbox(): void {
    while (this.outbox.length > 0 && this.closedReason === undefined) {
      if (!this.send(this.outbox[0]!)) return;
      this.outbox.shift();
    }
  }

  private onData(chunk: Buffer): void {
    let frames: Buffer[];
    try {
      frames = this.splitter.push(chunk);
    } catch (error) {
      this.fatal(error as Error);
      return;
    }
    for (const frame of frames) {
      if (this.closedReason !== undefined) return;
      let message: InitMessage | undefined;
      let fds: number[] | undefined;
      try {
        message = decodeInitMessage(frame);
        const nfds = frame.readUInt8(6);
        // The passing is already queued (ordering rule): take it now, before anything else can interleave.
        if (nfds > 0) fds = recvFds(this.fdChannel, nfds);
      } catch (error) {
        if (message !== undefined && error instanceof LibcError && error.code === 'EMFILE') {
          this.onDescriptorsLost(message, error);
          continue;
        }
        this.fatal(error as Error);
        return;
      }
      this.onMessage(message, fds);
    }
    // init read frames, and with them took their descriptors off the fd channel: there may be room again.
    if (this.outbox.length > 0) this.flushOutbox();
  }

  private onMessage(message: InitMessage, fds: number[] | undefined): void {
    if (message.type === 'exited') {
      const status: ExitStatus = {
        id: message.id,
        pid: message.pid,
        exitCode: message.exitCode,
        signal: message.signal === 0 ? null : message.signal,
      };
      const launch = this.launches.get(message.id);
      this.launches.delete(message.id);
      // An exit is heard one way, through its launch's `exit`. One for no launch waited on (an orphan's, a second
      // one, or a launch given up when its descriptors were lost) is told as unattributed.
      if (launch) launch.resolve(status);
      else this.emit('protocol-error', new InitError(`EXITED for launch ${message.id}, which nobody waits on`, 0, 0));
      return;
    }
    if (message.type === 'terminated' && message.id === 0) {
      // init is terminating on its own (it got SIGTERM): the channel closes next.
      this.emit('terminated');
      return;
    }
    const pending = this.pending.get(message.id);
    if (message.type === 'error') {
      const error = new InitError(message.message, message.errno, message.refType);
      if (pending) {
        this.pending.delete(message.id);
        pending.reject(error);
      } else {
        this.emit('protocol-error', error);
      }
      return;
    }
    if (!pending) {
      closeAll(fds ?? []);
      this.fatal(new InitProtocolError(`init answered id ${message.id} (${message.type}), which is not pending`));
      return;
    }
    this.pending.delete(message.id);
    if (message.type === 'launch-failed' && pending.type === MessageType.Launch) {
      pending.reject(new LaunchError(message.message, message.exitCode, message.errno));
    } else if (RESOLVES[pending.type] === message.type) {
      pending.resolve(fds ? { ...message, fds } : message);
    } else {
      closeAll(fds ?? []);
      pending.reject(new InitProtocolError(`init answered frame type 0x${pending.type.toString(16)} with ${message.type}`));
    }
  }

  /**
   * The descriptors an answer carried could not be taken (this process is out of them). Only that request
   * fails; a process launched for it, which nobody could reach, is killed.
   */
  private onDescriptorsLost(message: InitMessage, error: LibcError): void {
    const pending = this.pending.get(message.id);
    if (!pending) {
      this.fatal(new InitProtocolError(`init answered id ${message.id} (${message.type}), which is not pending`));
      return;
    }
    this.pending.delete(message.id);
    if (message.type === 'launched') this.signal(message.id, 'SIGKILL').catch(() => undefined);
    pending.reject(error);
  }

  /** init broke the protocol: nothing it says can be trusted any more, so end it (it ends its processes). */
  private fatal(error: Error): void {
    this.control.destroy();
    this.shutdown(`protocol error from init: ${error.message}`);
  }

  private shutdown(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    // Only now: frames still in flight when init exits may carry descriptors to take off it. (Nothing reads it,
    // so left open it would also keep the child's 'close' event from ever firing.)
    this.fdSocket.destroy();
    const error = new InitClosedError(`init channel closed: ${reason}`);
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
    for (const launch of this.launches.values()) launch.reject(error);
    this.launches.clear();
    for (const request of this.outbox) closeAll(request.fds);
    this.outbox.length = 0;
    this.emit('closed', reason);
  }
}

function isSocket(value: unknown): value is Socket {
  return typeof value === 'object' && value !== null && typeof (value as Socket).destroy === 'function' && '_handle' in value;
}
