// The process count of one instance, from its own /proc: a PID namespace's procfs lists that namespace's
// processes only, so counting is a listing of the instance's processes rather than a look at every host
// process. The mount is opened once, at start, while only our /init runs in the instance, and kept: whatever
// the distribution later mounts, unmounts or links at /proc, the descriptor still names the procfs nsexec made
// for it. It is looked up inside the instance's root (RESOLVE_IN_ROOT), so no link of the distribution's leads
// the service, host root, anywhere outside it.

import koffi from 'koffi';
import { closeSync, constants, openSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import {
  fstatfs,
  O_CLOEXEC,
  O_PATH,
  OpenHow,
  PROC_SUPER_MAGIC,
  RESOLVE_IN_ROOT,
  RESOLVE_NO_MAGICLINKS,
  SYS_openat2,
  syscall,
} from './libc.js';

const OPEN_HOW_POINTER = koffi.pointer(OpenHow);
const OPEN_HOW_SIZE = koffi.sizeof(OpenHow);
const PID_NAME = /^\d+$/;

/** The instance's procfs, open; counted while the instance runs, closed once it ended. */
export class InstanceProcfs {
  private closed = false;
  private counting = 0;

  private constructor(private readonly fd: number) {}

  /** undefined when it cannot be had (then count some other way). */
  static open(pid1: number): InstanceProcfs | undefined {
    const fd = openProcIn(pid1);
    return fd === undefined ? undefined : new InstanceProcfs(fd);
  }

  /** The processes it lists (its PID namespace's, and those of namespaces nested in it); 0 once closed. */
  async count(): Promise<number> {
    if (this.closed) return 0;
    this.counting++;
    try {
      let count = 0;
      for (const entry of await readdir(`/proc/self/fd/${this.fd}`)) if (PID_NAME.test(entry)) count++;
      return count;
    } catch {
      return 0;
    } finally {
      this.counting--;
      if (this.closed && this.counting === 0) closeSync(this.fd);
    }
  }

  /** Closed only when no count is under way: a number reused by another open must never be listed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.counting === 0) closeSync(this.fd);
  }
}

/** The procfs at /proc inside the root of `pid1`, as a descriptor. */
function openProcIn(pid1: number): number | undefined {
  let root: number;
  try {
    root = openSync(`/proc/${pid1}/root`, O_PATH | constants.O_DIRECTORY | O_CLOEXEC);
  } catch {
    return undefined;
  }
  try {
    const how = { flags: constants.O_RDONLY | constants.O_DIRECTORY | O_CLOEXEC, mode: 0, resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
    const proc = Number(syscall(SYS_openat2, 'int', root, 'str', 'proc', OPEN_HOW_POINTER, how, 'size_t', OPEN_HOW_SIZE));
    if (proc < 0) return undefined;
    const stat: { f_type: bigint | number } = { f_type: 0 };
    if (fstatfs(proc, stat) !== 0 || Number(stat.f_type) !== PROC_SUPER_MAGIC) {
      closeSync(proc);
      return undefined;
    }
    return proc;
  } finally {
    closeSync(root);
  }
}
