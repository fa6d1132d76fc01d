// The service's own descriptors: its soft RLIMIT_NOFILE, read with getrlimit(2) through koffi (a syscall that
// needs no descriptor, so it answers when the process is out of them), and how many it has open.

import { readdirSync } from 'node:fs';
import { getrlimit, RLIMIT_NOFILE } from './libc.js';

/** Where getrlimit fails (it should not): Linux's usual default soft limit. */
const FALLBACK = 1024;

/** The soft limit, read afresh: a syscall, cheap enough for every new connection. */
export function descriptorLimit(): number {
  const limit: { rlim_cur?: number | bigint; rlim_max?: number | bigint } = {};
  if (getrlimit(RLIMIT_NOFILE, limit) !== 0) return FALLBACK;
  const current = Number(limit.rlim_cur ?? FALLBACK);
  // RLIM_INFINITY reads as 2^64-1: as good as no limit.
  return Number.isFinite(current) && current > 0 ? Math.min(current, Number.MAX_SAFE_INTEGER) : FALLBACK;
}

/** The descriptors open now (a directory listing; when even that fails for want of one, as many as allowed). */
export function openDescriptors(): number {
  try {
    // Less the one the listing itself holds.
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return descriptorLimit();
  }
}
