// Shared by the test/init suites: start the real lxssd-init (a plain child, or chrooted through lxssd-nsexec),
// run launches with stdio collected, and look at the process table. Everything started is ended in t.after.

import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { closeAll, sendFds, stdioPair } from '../../src/hv/linux/fd-passing.js';
import {
  type Answer,
  InitChannel,
  InitClosedError,
  initPath,
  type ExitStatus,
  type LaunchOptions,
} from '../../src/hv/linux/init-channel.js';
import type { HelperStdio, Subprocess } from '../../src/hv/linux/helper-spawn.js';
import { identityMapping, spawnInNamespace } from '../../src/hv/linux/nsexec.js';
import { buildBusyboxRootfs } from '../helpers/rootfs.js';

export const isRoot = process.getuid?.() === 0;

/** Skips loudly when the test cannot run here; returns true when it was skipped. */
export function needsRoot(t: TestContext): boolean {
  if (isRoot) return false;
  t.skip('needs root (CI runs as root)');
  return true;
}

/** Our own identity, so launches work when the suite runs unprivileged (init cannot change uid then). */
export const SELF = { uid: process.getuid?.() ?? 0 };
export const PATH_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };

/**
 * The channel with what only the protocol tests do: write bytes of their own making (malformed frames, a frame
 * a byte at a time, descriptors that break the ordering rule) and wait for an answer to them.
 */
export class RawInitChannel extends InitChannel {
  /** Writes `bytes` on the control channel, `fds` passed first. */
  sendRaw(bytes: Buffer, fds: readonly number[] = []): void {
    if (this.closedReason !== undefined) throw new InitClosedError(`init channel closed: ${this.closedReason}`);
    if (fds.length > 0) sendFds(this.fdChannel, fds);
    this.control.write(bytes);
  }

  override awaitAnswer(id: number, type: number): Promise<Answer> {
    return super.awaitAnswer(id, type);
  }
}

export interface StartedInit {
  child: Subprocess;
  channel: RawInitChannel;
  /** init's pid as this test process sees it (HELLO_ACK: no PID namespace in these tests). */
  pid: number;
  /** What init logged on stderr so far. */
  log: () => string;
}

/** Spawns init without HELLO. `root`: chrooted there through lxssd-nsexec (identity mapping; needs root). */
export function spawnInit(t: TestContext, { root }: { root?: string } = {}): { child: Subprocess; channel: RawInitChannel; log: () => string } {
  const stdio: HelperStdio[] = ['ignore', 'inherit', 'pipe', 'pipe', 'pipe'];
  const child =
    root === undefined
      ? spawn(initPath(), [], { stdio, env: {} })
      : spawnInNamespace({ mapping: identityMapping(), root, argv: [initPath()], stdio });
  // Same tick as the spawn: the channel must stop Node reading the fd channel before the loop turns.
  const channel = new RawInitChannel(child);
  let log = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (log += chunk));
  t.after(() => stopInit(child, channel));
  return { child, channel, log: () => log };
}

/** Spawns init and says HELLO. */
export async function startInit(t: TestContext, options: { root?: string } = {}): Promise<StartedInit> {
  const started = spawnInit(t, options);
  const { pid } = await started.channel.hello();
  return { ...started, pid };
}

/** Ends init and whatever it runs: close the channel (init kills everything), SIGKILL if it lingers. */
export async function stopInit(child: Subprocess, channel: InitChannel): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    channel.close();
    const gone = await Promise.race([
      channel.exited.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 10_000).unref()),
    ]);
    if (!gone) child.kill('SIGKILL');
  }
  await channel.exited;
  child.stderr?.destroy();
}

export interface RunResult {
  status: ExitStatus;
  stdout: string;
  stderr: string;
  pid: number;
}

/** Reads a local stdio end to EOF. */
function drain(fd: number): Promise<string> {
  const socket = new net.Socket({ fd, readable: true, writable: false });
  let text = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  return new Promise((resolve, reject) => {
    socket.on('error', reject);
    socket.on('close', () => resolve(text));
  });
}

/** Launches in pipes mode with fresh pipes, feeds `input` (then EOF), collects stdout/stderr and the exit. */
export async function run(
  channel: InitChannel,
  options: Omit<LaunchOptions, 'stdio' | 'pty'>,
  input = '',
): Promise<RunResult> {
  const { child, local } = stdioPair('pipe');
  const stdin = new net.Socket({ fd: local[0], readable: false, writable: true });
  stdin.on('error', () => undefined); // EPIPE when the program does not read
  const stdout = drain(local[1]);
  const stderr = drain(local[2]);
  try {
    const launched = await channel.launch({ ...options, stdio: child });
    stdin.end(input);
    const [status, out, err] = await Promise.all([launched.exit, stdout, stderr]);
    return { status, stdout: out, stderr: err, pid: launched.pid };
  } catch (error) {
    stdin.destroy();
    // The child ends were closed by launch(); our ends see EOF and close themselves.
    await Promise.allSettled([stdout, stderr]);
    throw error;
  }
}

/** Launches with /dev/null-like stdio we ignore (pipes whose local ends are closed at once). */
export async function launchDetached(channel: InitChannel, options: Omit<LaunchOptions, 'stdio' | 'pty'>) {
  const { child, local } = stdioPair('pipe');
  closeAll(local);
  return channel.launch({ ...options, stdio: child });
}

/** pid, ppid and state from /proc/PID/stat, or undefined when it is gone. */
export function procStat(pid: number): { pid: number; ppid: number; state: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, state: rest[0] ?? '?', ppid: Number(rest[1]) };
  } catch {
    return undefined;
  }
}

/** Gone, or a zombie. */
export function isDead(pid: number): boolean {
  const stat = procStat(pid);
  return stat === undefined || stat.state === 'Z';
}

/** Every process whose parent is `pid` (a scan of /proc/<n>/stat), with its state. */
export function childrenOf(pid: number): Array<{ pid: number; state: string }> {
  const found: Array<{ pid: number; state: string }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (stat?.ppid === pid) found.push({ pid: stat.pid, state: stat.state });
  }
  return found;
}

/** A busybox rootfs folder (root, alice 1000:1000), removed afterwards. */
export async function busyboxRoot(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lxssd-init-root-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await buildBusyboxRootfs(dir);
  // mkdtemp made it 0700: a distribution's / must be enterable by its users.
  await chmod(dir, 0o755);
  return dir;
}

/** Count of open descriptors of a process. */
export function fdCount(pid: number | 'self'): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}
