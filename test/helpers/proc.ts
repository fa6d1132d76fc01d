// What the host's /proc says about processes and namespaces, for tests that check nothing is left behind.

import { readdir, readFile, readlink } from 'node:fs/promises';

/** The namespace a process is in, e.g. `pid:[4026532201]`; undefined when the process is gone. */
export async function namespaceOf(pid: number, kind: 'pid' | 'mnt' | 'uts' | 'ipc' | 'user' | 'net'): Promise<string | undefined> {
  return readlink(`/proc/${pid}/ns/${kind}`).catch(() => undefined);
}

/** Host pids of every process in the PID namespace `ns` (as namespaceOf gives it). */
export async function processesInPidNamespace(ns: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if ((await namespaceOf(Number(entry), 'pid')) === ns) pids.push(Number(entry));
  }
  return pids;
}

/** `State:` letter of a process (R, S, Z, ...), undefined when gone. */
export async function stateOf(pid: number): Promise<string | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  return status?.match(/^State:\s+(\S)/m)?.[1];
}

/** The NSpid line: the pid in each nested PID namespace, outermost first. */
export async function nsPids(pid: number): Promise<number[]> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const line = status.match(/^NSpid:\s+(.*)$/m)?.[1] ?? '';
  return line.split(/\s+/).filter(Boolean).map(Number);
}

/** The descriptor limit under which exactly `room` descriptor numbers are free (a new one takes the lowest free number). */
export function limitLeaving(open: number[], room: number): number {
  const taken = new Set(open);
  let free = 0;
  for (let fd = 0; ; fd++) {
    if (taken.has(fd)) continue;
    if (free === room) return fd;
    free++;
  }
}
