// One user's processes: WSL's CreateLxProcess as a resource. A process is launched through its instance's
// /init (starting the distribution when needed), its output is kept in an OutputLog for any number of
// readers, one writer may own its stdin, and it stays listed after it exits so a late client can read the
// exit code, until the retention time passes.

import { randomUUID } from 'node:crypto';
import { posix } from 'node:path';
import {
  type DistroFiles,
  type ExitStatus,
  type GuestUser,
  guestSignal,
  HvError,
  type HvProcess,
  type OwnerSid,
  SIGKILL,
} from '../hv/index.js';
import type { Distributions } from './distributions.js';
import { fromHv, LxssError } from './errors.js';
import type { EventBus } from './events.js';
import type { Instances } from './instances.js';
import { collect } from './output-collect.js';
import { OutputLog } from './output-log.js';
import { ARGV_SUMMARY, KILL_CONFIRM_MS, MAX_LAUNCH_BYTES, MAX_LAUNCH_STRING_BYTES, OUTPUT_DRAIN_MS } from './process-limits.js';

/** WSL's `--shell-type`: a login shell, the shell as is (non-login), or no shell at all (argv exec'd). */
export type ShellType = 'login' | 'standard' | 'none';

/**
 * What to start, in one of WSL's three ways (WslClient's "three possible cases"): no argv and no commandLine →
 * the user's login shell; `commandLine` → the user's shell runs it (`$SHELL -c`); `argv` → exec'd as given, no
 * shell. `shell` chooses login or standard for the first two and must be `none` (or absent) with argv.
 */
export interface CreateProcessRequest {
  argv?: string[];
  commandLine?: string;
  shell?: ShellType;
  /** absolute, `~` (the home: `/` when it does not exist) or `~/...` (below the home; must exist) */
  cwd?: string;
  env?: Record<string, string>;
  user?: string;
  uid?: number;
  tty?: { cols: number; rows: number };
  /** keep stdin open for a writer (default: only for a terminal) */
  stdin?: boolean;
}

export interface RunRequest extends Omit<CreateProcessRequest, 'stdin' | 'tty'> {
  stdin?: string;
  timeoutMs: number;
  maxOutputBytes: number;
}

export interface RunResult {
  id: string;
  exitCode: number;
  signal: number | null;
  /** the output as it came, in pieces (no copy is made of it) */
  stdout: Buffer[];
  stderr: Buffer[];
  truncated: boolean;
  timedOut: boolean;
  error: string | null;
  /** gives back the run's share of the user's maxRunOutputBytes: call once the answer has been sent */
  release(): void;
}

export interface ProcessView {
  id: string;
  distributionId: string;
  distribution: string;
  pid: number | null;
  /** the argv it was started with: a login shell's is `["-sh"]`, a commandLine's `["/bin/sh", "-c", "..."]` */
  argv: string[];
  /** the program executed: argv[0], except for a login shell (whose argv[0] is `-` and the shell's name) */
  executable: string;
  /** how it was started: through the user's shell (login or standard), or argv exec'd directly (none) */
  shell: ShellType;
  /** the user it runs as, as the distribution resolved it */
  user: string | null;
  uid: number | null;
  home: string | null;
  tty: { cols: number; rows: number } | null;
  stdin: boolean;
  /** argv was shortened for a list (see ARGV_SUMMARY); the process's own view has all of it */
  argvTruncated: boolean;
  state: 'running' | 'exited';
  startedAt: string;
  exitedAt: string | null;
  exitCode: number | null;
  signal: number | null;
  /** why it never ran (program missing, not executable, ...), else null */
  error: string | null;
}

/** What a process whose end we could not learn (its instance died) is reported as. */
const KILLED: ExitStatus = { exitCode: 128 + SIGKILL, signal: SIGKILL };

export interface ProcessesOptions {
  /** whose they are: users are looked up in the distributions as this owner */
  owner: OwnerSid;
  retentionMs: number;
  /** running processes a session may have; exited ones give way, oldest first, to keep the list this long */
  maxProcesses: number;
  /** output all of a user's `run`s in progress may hold at once (each reserves 2 × its maxOutputBytes) */
  maxRunOutputBytes: number;
}

/** One page of a list: `next` is the cursor for the following page, null on the last one. */
export interface Page<T> {
  items: T[];
  next: string | null;
}

/** A guest signal by name (`SIGTERM`, `TERM`, `SIGRTMIN+2`) or number; a 400 when it names none. */
export function signalNumber(signal: string | number): number {
  const number = guestSignal(signal);
  if (number === undefined) throw new LxssError('E_INVALIDARG', `"${signal}" is not a signal`);
  return number;
}

/** A running or exited process and everything a client may attach to. */
export class ProcessEntry {
  readonly id = randomUUID();
  /** the order it was listed in, for list cursors (set when it is listed) */
  sequence = 0;
  readonly output = new OutputLog();
  readonly startedAt = new Date();
  exitedAt: Date | null = null;
  status: ExitStatus | null = null;
  error: string | null = null;
  /** settles when the program has exited (a background child may still hold its output open) */
  readonly exited: Promise<ExitStatus>;
  /**
   * settles once it has exited and its output is complete: every source ended, or quiet for OUTPUT_DRAIN_MS
   * (a background child holding the pipe); what such a child writes later is not waited for
   */
  readonly done: Promise<ExitStatus>;
  /** true once `done` has settled */
  outputSettled = false;
  private resolveExited!: (status: ExitStatus) => void;
  private resolveDone!: (status: ExitStatus) => void;
  private stdinOwner: object | null = null;
  private stdinClosed: boolean;

  /** the terminal's size now (resizes included); null without a terminal */
  tty: { cols: number; rows: number } | null;

  constructor(
    readonly distributionId: string,
    /** the distribution's name now: it may be renamed while the process runs */
    private readonly distributionName: () => string,
    readonly argv: string[],
    readonly launch: { executable: string; shell: ShellType },
    readonly user: GuestUser | null,
    tty: { cols: number; rows: number } | null,
    readonly stdinWanted: boolean,
    public hv: HvProcess | null,
  ) {
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.stdinClosed = !stdinWanted;
    this.tty = tty;
  }

  /** The process as a resource; `summary` (for lists) shortens argv to ARGV_SUMMARY. */
  view(summary = false): ProcessView {
    const argv = summary ? summarizeArgv(this.argv) : { argv: [...this.argv], truncated: false };
    return {
      id: this.id,
      distributionId: this.distributionId,
      distribution: this.distributionName(),
      pid: this.hv?.pid ?? null,
      argv: argv.argv,
      argvTruncated: argv.truncated,
      executable: this.launch.executable,
      shell: this.launch.shell,
      user: this.user?.name ?? null,
      uid: this.user?.uid ?? null,
      home: this.user?.home ?? null,
      tty: this.tty,
      stdin: this.stdinWanted,
      state: this.status ? 'exited' : 'running',
      startedAt: this.startedAt.toISOString(),
      exitedAt: this.exitedAt?.toISOString() ?? null,
      exitCode: this.status?.exitCode ?? null,
      signal: this.status?.signal ?? null,
      error: this.error,
    };
  }

  /** @internal the program has exited (its output may still be arriving) */
  finish(status: ExitStatus, error: string | null = null): void {
    if (this.status) return;
    this.status = status;
    this.error = error;
    this.exitedAt = new Date();
    this.resolveExited(status);
  }

  /** @internal its output is complete too */
  settle(): void {
    if (!this.status || this.outputSettled) return;
    this.outputSettled = true;
    this.resolveDone(this.status);
  }

  /** Makes `owner` the one stdin writer, or says why it cannot be. */
  private claimStdin(owner: object): StdinRefusal | undefined {
    if (this.status) return 'exited';
    if (this.stdinClosed) return 'closed';
    if (this.stdinOwner !== null && this.stdinOwner !== owner) return 'taken';
    this.stdinOwner = owner;
    return undefined;
  }

  /** Makes `owner` the one stdin writer before it writes anything (StdinRefused when it cannot be). */
  takeStdin(owner: object): void {
    const refusal = this.claimStdin(owner);
    if (refusal) throw new StdinRefused(refusal);
  }

  releaseStdin(owner: object): void {
    if (this.stdinOwner === owner) this.stdinOwner = null;
  }

  /** Writes to stdin, resolving when the process has taken it (so a slow reader of stdin slows the writer). */
  async writeStdin(owner: object, data: Buffer | string): Promise<void> {
    const refusal = this.claimStdin(owner);
    if (refusal) throw new StdinRefused(refusal);
    const sink = this.hv?.stdin ?? this.hv?.terminal;
    if (!sink || sink.destroyed) return;
    if (!sink.write(data)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          sink.off('drain', done);
          sink.off('close', done);
          resolve();
        };
        sink.on('drain', done);
        sink.on('close', done);
      });
    }
  }

  /** Stdin EOF (a terminal has no EOF of its own: it gets ^D). Closing it twice, or after the exit, is no error. */
  closeStdin(owner: object | null): void {
    const refusal = owner === null ? undefined : this.claimStdin(owner);
    if (refusal === 'taken') throw new StdinRefused(refusal);
    if (refusal) return;
    if (this.stdinClosed) return;
    this.stdinClosed = true;
    if (this.hv?.stdin) this.hv.stdin.end();
    else this.hv?.terminal?.write('\x04');
  }

  async signal(signal: number): Promise<void> {
    if (this.status || !this.hv) throw new LxssError('E_ILLEGAL_STATE_CHANGE', 'the process has exited');
    await this.hv.kill(signal).catch(exitedMeanwhile);
  }

  async resize(cols: number, rows: number): Promise<void> {
    if (!this.tty || !this.hv) throw new LxssError('LXSSD_E_NOT_A_TERMINAL', 'the process has no terminal');
    if (this.status) throw new LxssError('E_ILLEGAL_STATE_CHANGE', 'the process has exited');
    await this.hv.resize(cols, rows).catch(exitedMeanwhile);
    this.tty = { cols, rows };
  }
}

/**
 * The exit of a process past its deadline's SIGKILL, or null when the distribution does not confirm it within
 * KILL_CONFIRM_MS: one that stopped answering does not hold `run`'s answer back.
 */
async function exitConfirmed(entry: ProcessEntry): Promise<ExitStatus | null> {
  let confirmTimer: NodeJS.Timeout | undefined;
  const unanswered = new Promise<null>((resolve) => (confirmTimer = setTimeout(() => resolve(null), KILL_CONFIRM_MS)));
  try {
    return await Promise.race([entry.exited, unanswered]);
  } finally {
    clearTimeout(confirmTimer);
  }
}

/** It exited while the request was on its way: the same answer as after the exit. */
function exitedMeanwhile(error: unknown): never {
  throw fromHv(error);
}

/** argv as a list shows it: at most ARGV_SUMMARY.items items and ARGV_SUMMARY.bytes bytes in all. */
function summarizeArgv(argv: readonly string[]): { argv: string[]; truncated: boolean } {
  const kept: string[] = [];
  let room = ARGV_SUMMARY.bytes;
  let truncated = argv.length > ARGV_SUMMARY.items;
  for (const item of argv.slice(0, ARGV_SUMMARY.items)) {
    const bytes = Buffer.from(item, 'utf8');
    if (bytes.length <= room) {
      kept.push(item);
      room -= bytes.length;
      continue;
    }
    truncated = true;
    // Cut at a character boundary: a partial UTF-8 sequence at the end decodes as U+FFFD, dropped here.
    const cut = bytes.subarray(0, room).toString('utf8').replace(/\uFFFD$/, '');
    if (cut !== '' || kept.length === 0) kept.push(cut);
    break;
  }
  return { argv: kept, truncated };
}

/** What a request asks to start: argv as given, or the user's shell (login or not, with a command or not). */
type StartMode = { shell: 'none'; argv: string[] } | { shell: 'login' | 'standard'; commandLine: string | undefined };

/** The one way a request starts its process, or a 400 saying why its fields do not make one. */
export function startModeOf(request: Pick<CreateProcessRequest, 'argv' | 'commandLine' | 'shell'>): StartMode {
  const { argv, commandLine, shell } = request;
  if (argv !== undefined && commandLine !== undefined) {
    throw new LxssError(
      'E_INVALIDARG',
      'give argv (run exactly as given, no shell) or commandLine (run by the user’s shell as $SHELL -c), not both',
    );
  }
  if (argv !== undefined) {
    if (shell !== undefined && shell !== 'none') {
      throw new LxssError(
        'E_INVALIDARG',
        `shell "${shell}" starts the user’s shell, but argv is exec'd without one: give commandLine to run a command ` +
          'through the shell, or leave shell out (or "none") to run argv',
      );
    }
    if (argv[0] === undefined || argv[0] === '') throw new LxssError('E_INVALIDARG', 'argv[0] must name a program');
    return { shell: 'none', argv };
  }
  if (shell === 'none') {
    throw new LxssError('E_INVALIDARG', 'shell "none" execs argv directly, with no shell: give argv');
  }
  return { shell: shell ?? (commandLine === undefined ? 'login' : 'standard'), commandLine };
}

/**
 * The argv (and the file, when it is not argv[0]) of a start mode for `user`: the user's shell from the
 * distribution's /etc/passwd (`/bin/sh` when it names none), a login shell as `-sh` (its name with a `-`, the
 * convention login(1) uses), a command line as `$SHELL -c "<commandLine>"`.
 */
export function launchOf(mode: StartMode, user: Pick<GuestUser, 'shell'>): { argv: string[]; executable: string } {
  if (mode.shell === 'none') return { argv: mode.argv, executable: mode.argv[0]! };
  const shell = user.shell || '/bin/sh';
  const argv0 = mode.shell === 'login' ? `-${posix.basename(shell)}` : shell;
  return { argv: mode.commandLine === undefined ? [argv0] : [argv0, '-c', mode.commandLine], executable: shell };
}

/** The cwd to ask init for: undefined for the home (init falls back to `/` when there is none), else absolute. */
function cwdFor(cwd: string | undefined, user: Pick<GuestUser, 'home'>): string | undefined {
  if (cwd === undefined || cwd === '~') return undefined;
  if (cwd.startsWith('~/')) return posix.join(user.home, cwd.slice(2));
  return cwd;
}

/** Refuses argv + env a launch cannot carry, before anything starts. */
function checkLaunchSize(argv: readonly string[], env: readonly string[]): void {
  let total = 0;
  for (const [what, strings] of [['argv', argv], ['env', env]] as const) {
    for (const value of strings) {
      const bytes = Buffer.byteLength(value, 'utf8');
      if (bytes > MAX_LAUNCH_STRING_BYTES) {
        throw new LxssError(
          'E_INVALIDARG',
          `an ${what} string of ${bytes} bytes is over the ${MAX_LAUNCH_STRING_BYTES} bytes one string may have (Linux's MAX_ARG_STRLEN)`,
        );
      }
      total += bytes + 4;
    }
  }
  if (total > MAX_LAUNCH_BYTES) {
    throw new LxssError(
      'E_INVALIDARG',
      `argv and env take ${total} bytes, over the ${MAX_LAUNCH_BYTES} a launch may carry ` +
        "(4 bytes per string counted, the distribution's default environment included)",
    );
  }
}

type StdinRefusal = 'exited' | 'closed' | 'taken';

const STDIN_REFUSALS: Record<StdinRefusal, string> = {
  exited: 'the process has exited',
  closed: 'stdin is closed (the process was started without stdin, or it was closed)',
  taken: 'another client writes this process’s stdin; one writer at a time',
};

/** A stdin write the process cannot take; `reason` tells a late write (exited) from a client's mistake. */
export class StdinRefused extends LxssError {
  readonly reason: StdinRefusal;

  constructor(reason: StdinRefusal) {
    super('E_ILLEGAL_STATE_CHANGE', STDIN_REFUSALS[reason]);
    this.reason = reason;
  }
}

export class Processes {
  private readonly entries = new Map<string, ProcessEntry>();
  /** creations past the limit check and not yet listed: they count as running */
  private starting = 0;
  /** output bytes the `run`s in progress have reserved (maxRunOutputBytes bounds it) */
  private runOutputReserved = 0;
  private nextSequence = 1;

  constructor(
    private readonly distributions: Distributions,
    private readonly instances: Instances,
    private readonly files: DistroFiles,
    private readonly events: EventBus,
    private readonly options: ProcessesOptions,
  ) {}

  /**
   * One page of the processes (of one distribution), oldest first, argv summarised: `after` is the `next` of
   * the page before (a process that went away since does not disturb it).
   */
  list(distributionId?: string, page: { limit?: number; after?: string } = {}): Page<ProcessView> {
    const limit = page.limit ?? Infinity;
    const after = page.after === undefined ? 0 : Number(page.after);
    if (!Number.isSafeInteger(after) || after < 0) {
      throw new LxssError('E_INVALIDARG', `"${page.after}" is not a cursor of this list`);
    }
    const items: ProcessView[] = [];
    let last = after;
    // The map keeps the order processes were listed in, which is their sequence order.
    for (const entry of this.entries.values()) {
      if (entry.sequence <= after) continue;
      if (distributionId !== undefined && entry.distributionId !== distributionId) continue;
      if (items.length >= limit) return { items, next: String(last) };
      items.push(entry.view(true));
      last = entry.sequence;
    }
    return { items, next: null };
  }

  get(id: string): ProcessEntry {
    const entry = this.entries.get(id);
    if (!entry) throw new LxssError('ERROR_NOT_FOUND', `you have no process ${id}`);
    return entry;
  }

  /**
   * CreateLxProcess: starts the distribution if needed, then the process: argv with no shell in between, or the
   * user's shell when the request asks for one (startModeOf).
   */
  async create(idOrName: string, request: CreateProcessRequest): Promise<ProcessEntry> {
    if (request.user !== undefined && request.uid !== undefined) {
      throw new LxssError('E_INVALIDARG', 'give user or uid, not both');
    }
    startModeOf(request);
    const running = this.runningCount();
    if (running >= this.options.maxProcesses) {
      throw new LxssError('LXSSD_E_PROCESS_LIMIT', `you have ${running} processes running, the most allowed (maxProcesses); end some first`);
    }
    this.starting++;
    try {
      return await this.start(idOrName, request);
    } finally {
      this.starting--;
    }
  }

  private async start(idOrName: string, request: CreateProcessRequest): Promise<ProcessEntry> {
    const distribution = this.distributions.startable(idOrName);
    const record = this.distributions.get(distribution.id);
    // Before the distribution starts: the request's own strings and the default environment.
    const mode = startModeOf(request);
    const requestEnv = Object.entries(request.env ?? {}).map(([key, value]) => `${key}=${value}`);
    const given = mode.shell === 'none' ? mode.argv : mode.commandLine === undefined ? [] : [mode.commandLine];
    checkLaunchSize(given, [...record.defaultEnvironment, ...requestEnv]);
    await this.instances.ensureRunning(distribution);
    const user = await this.resolveUser(distribution, record.defaultUid, request);
    const env = this.environment(record.defaultEnvironment, user, request);
    const { argv, executable } = launchOf(mode, user);
    // The executable travels as one more string when it is not argv[0].
    checkLaunchSize(executable === argv[0] ? argv : [...argv, executable], env);
    const tty = request.tty ?? null;
    const stdinWanted = request.stdin ?? tty !== null;

    const instance = this.instances.acquire(distribution.id);
    if (!instance) {
      // A terminate or shutdown raced this request: a conflict to retry, not a missing resource.
      throw new LxssError('E_ILLEGAL_STATE_CHANGE', `${distribution.name} was stopped while the process was starting; try again`);
    }
    const { id: distributionId, name: nameAtStart } = distribution;
    const currentName = (): string => this.distributions.nameOf(distributionId) ?? nameAtStart;
    const entry = new ProcessEntry(distributionId, currentName, argv, { executable, shell: mode.shell }, user, tty, stdinWanted, null);
    let hv: HvProcess;
    try {
      hv = await instance.spawn({
        argv,
        ...(executable === argv[0] ? {} : { executable }),
        env,
        cwd: cwdFor(request.cwd, user),
        user: user.uid,
        tty: tty ?? undefined,
      });
    } catch (error) {
      this.instances.release(distribution.id);
      if (error instanceof HvError && error.kind === 'launch-failed') {
        // It never ran: the resource says so, with the shell's exit code for it, rather than an HTTP error.
        entry.finish({ exitCode: error.exitCode ?? 127, signal: null }, error.message);
        entry.settle();
        this.remember(entry);
        this.events.emit({ type: 'process-exited', processId: entry.id, distributionId: distribution.id, exitCode: entry.status!.exitCode, signal: null });
        return entry;
      }
      throw fromHv(error);
    }
    entry.hv = hv;
    if (hv.terminal) entry.output.addSource(hv.terminal, 1);
    if (hv.stdout) entry.output.addSource(hv.stdout, 1);
    if (hv.stderr) entry.output.addSource(hv.stderr, 2);
    // Without a writer stdin is at EOF from the start, as from /dev/null: closed now, nothing kept for it.
    if (!stdinWanted) hv.stdin?.destroy();
    else {
      hv.stdin?.on('error', () => {
        // The process closed its stdin early; writes after that are dropped, as a pipe's would be.
      });
    }
    this.remember(entry);
    this.events.emit({ type: 'process-started', processId: entry.id, distributionId: distribution.id, pid: hv.pid ?? null, argv: [...argv] });
    this.watch(entry, hv);
    return entry;
  }

  /**
   * Runs to completion and collects the output (for curl), capped per stream. It answers when the program
   * exits, with the output that arrived by then or within OUTPUT_DRAIN_MS after (a background child may hold
   * the pipe open: what it writes later is not collected, and it is left running). At the deadline the
   * program is killed and the answer comes with the output so far — from the service's own timer, so a
   * distribution that stops answering (its /init stopped or traced) cannot hold the answer back either.
   */
  async run(idOrName: string, request: RunRequest): Promise<RunResult> {
    const { stdin, timeoutMs, maxOutputBytes, ...create } = request;
    const release = this.reserveRunOutput(2 * maxOutputBytes);
    let entry: ProcessEntry | undefined;
    let timedOut = false;
    let deadlinePassed!: () => void;
    const deadline = new Promise<void>((resolve) => (deadlinePassed = resolve));
    const timer = setTimeout(() => {
      if (entry?.status) return;
      timedOut = true;
      entry?.hv?.kill(SIGKILL).catch(() => undefined);
      deadlinePassed();
    }, timeoutMs);
    let drainTimer: NodeJS.Timeout | undefined;
    try {
      const creating = this.create(idOrName, { ...create, stdin: stdin !== undefined });
      entry = await Promise.race([creating, deadline.then(() => undefined)]);
      if (!entry) {
        // It may still be launched once the distribution answers again: nobody waits for it then.
        creating.then((late) => late.hv?.kill(SIGKILL).catch(() => undefined), () => undefined);
        throw new LxssError(
          'LXSSD_E_TIMEOUT',
          `the process was not started within timeoutMs (${timeoutMs} ms): the distribution was still starting or is not answering`,
        );
      }
      const started = entry;
      const owner = {};
      if (stdin !== undefined && !started.status) {
        started.writeStdin(owner, stdin).then(
          () => started.closeStdin(owner),
          () => undefined,
        );
      }
      // Once the program has exited, what arrives within OUTPUT_DRAIN_MS is collected: a background child holding
      // the pipe does not hold the answer.
      let collecting = true;
      const drained = started.exited.then(() => {
        if (collecting) return new Promise<void>((resolve) => (drainTimer = setTimeout(resolve, OUTPUT_DRAIN_MS)));
      });
      const output = await collect(started.output.attach(), {
        maxBytesPerChannel: maxOutputBytes,
        until: Promise.race([deadline, drained]),
      });
      collecting = false;
      const status = started.status ?? (await exitConfirmed(started));
      const unconfirmed =
        `the distribution did not confirm the kill within ${KILL_CONFIRM_MS} ms (it is not answering); ` +
        `the process may still run: see GET /v1/processes/${started.id}`;
      return {
        id: started.id,
        exitCode: status?.exitCode ?? KILLED.exitCode,
        signal: status ? status.signal : KILLED.signal,
        stdout: output.stdout,
        stderr: output.stderr,
        truncated: output.truncated,
        timedOut,
        error: started.error ?? (status ? null : unconfirmed),
        release,
      };
    } catch (error) {
      release();
      throw error;
    } finally {
      clearTimeout(timer);
      clearTimeout(drainTimer);
    }
  }

  /** Reserves a run's output (both streams) in the user's maxRunOutputBytes; the function gives it back. */
  private reserveRunOutput(bytes: number): () => void {
    const budget = this.options.maxRunOutputBytes;
    if (bytes > budget) {
      throw new LxssError(
        'E_INVALIDARG',
        `maxOutputBytes ${bytes / 2} for each of stdout and stderr is more than the ${budget} bytes all your runs may hold at once (maxRunOutputBytes)`,
      );
    }
    if (this.runOutputReserved + bytes > budget) {
      throw new LxssError(
        'LXSSD_E_OUT_OF_RESOURCES',
        `your runs in progress hold ${this.runOutputReserved} of the ${budget} output bytes all your runs may hold at once ` +
          '(maxRunOutputBytes; each reserves 2 × maxOutputBytes); wait for one to answer, or ask for less maxOutputBytes',
      );
    }
    this.runOutputReserved += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.runOutputReserved -= bytes;
    };
  }

  /** Kills it if it runs, then forgets it. */
  async remove(id: string): Promise<void> {
    const entry = this.get(id);
    if (!entry.status && entry.hv) await entry.hv.kill(SIGKILL).catch(() => undefined);
    this.entries.delete(id);
  }

  private runningCount(): number {
    let running = this.starting;
    for (const entry of this.entries.values()) if (!entry.status) running++;
    return running;
  }

  /** Lists it; exited processes give way, oldest first, so the list never holds more than maxProcesses. */
  private remember(entry: ProcessEntry): void {
    entry.sequence = this.nextSequence++;
    this.entries.set(entry.id, entry);
    for (const [id, other] of this.entries) {
      if (this.entries.size <= this.options.maxProcesses) break;
      if (other.status) this.entries.delete(id);
    }
  }

  /**
   * The program's exit makes it `exited` at once, with its code, even while a background child still holds its
   * output open; the output is complete (`done`) when it ends or has been quiet for OUTPUT_DRAIN_MS.
   */
  private watch(entry: ProcessEntry, hv: HvProcess): void {
    hv.exited
      .catch(() => KILLED)
      .then((status) => {
        entry.finish(status);
        // The instance stays busy while the output is open (a background child still writing to a client).
        entry.output.whenEnded().then(() => this.instances.release(entry.distributionId));
        this.events.emit({
          type: 'process-exited',
          processId: entry.id,
          distributionId: entry.distributionId,
          exitCode: status.exitCode,
          signal: status.signal,
        });
        const forget = setTimeout(() => {
          if (this.entries.get(entry.id) === entry) this.entries.delete(entry.id);
        }, this.options.retentionMs);
        forget.unref();
        return entry.output.settled(OUTPUT_DRAIN_MS);
      })
      .then(() => entry.settle());
  }

  private async resolveUser(
    distribution: { id: string; name: string; basePath: string },
    defaultUid: number,
    request: CreateProcessRequest,
  ): Promise<GuestUser> {
    const wanted = request.user ?? request.uid ?? this.instances.defaultUserOf(distribution.id) ?? defaultUid;
    const found = await this.files.findUser(this.options.owner, distribution.basePath, wanted);
    if (found) return found;
    throw new LxssError('WSL_E_USER_NOT_FOUND', `${distribution.name} has no user "${wanted}" in /etc/passwd`);
  }

  /** The distribution's default environment, a sane one for the user, then the request's, each over the last. */
  private environment(defaults: readonly string[], user: GuestUser, request: CreateProcessRequest): string[] {
    const env = new Map<string, string>();
    for (const entry of defaults) {
      const at = entry.indexOf('=');
      if (at > 0) env.set(entry.slice(0, at), entry.slice(at + 1));
    }
    env.set('HOME', user.home);
    env.set('USER', user.name);
    env.set('LOGNAME', user.name);
    env.set('SHELL', user.shell);
    if (!env.has('PATH')) env.set('PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    if (!env.has('TERM')) env.set('TERM', 'xterm-256color');
    for (const [key, value] of Object.entries(request.env ?? {})) env.set(key, value);
    return [...env].map(([key, value]) => `${key}=${value}`);
  }
}
