// Account lookups through getpwuid_r, so every NSS source the host configures is honoured.

import type { Account } from '../types.js';
import { ERANGE, getpwuidR } from './libc.js';

export function lookupAccount(uid: number): Account | undefined {
  for (let size = 1024; size <= 1 << 20; size *= 4) {
    const pwd: Record<string, unknown> = {};
    const buffer = Buffer.alloc(size);
    const result = [null];
    const rc = getpwuidR(uid, pwd, buffer, size, result);
    if (rc === ERANGE) continue;
    if (rc !== 0 || result[0] === null) return undefined;
    // koffi decodes `char *` members into JS strings, so nothing returned points into `buffer`.
    return {
      uid: pwd.pw_uid as number,
      gid: pwd.pw_gid as number,
      name: pwd.pw_name as string,
      home: pwd.pw_dir as string,
    };
  }
  return undefined;
}
