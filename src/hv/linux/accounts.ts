// Account lookups through getpwuid_r, so every NSS source the host configures is honoured. A lookup that
// could not be made (out of descriptors) throws `out-of-resources` rather than answer "no such account".

import { constants } from 'node:os';
import { HvError } from '../errors.js';
import { errnoName } from './fd-passing.js';
import { ERANGE, getpwuidR } from './libc.js';

const { EMFILE, ENFILE, ENOMEM, EAGAIN } = constants.errno;
/** getpwuid_r's answers that mean it could not look, for want of descriptors or memory */
const OUT_OF_RESOURCES = new Set([EMFILE, ENFILE, ENOMEM, EAGAIN]);

/** A host account as this backend needs it: its ids, name and home. */
export interface LinuxAccount {
  readonly uid: number;
  readonly gid: number;
  readonly name: string;
  readonly home: string;
}

export function lookupAccount(uid: number): LinuxAccount | undefined {
  for (let size = 1024; size <= 1 << 20; size *= 4) {
    const pwd: Record<string, unknown> = {};
    const buffer = Buffer.alloc(size);
    const result = [null];
    const rc = getpwuidR(uid, pwd, buffer, size, result);
    if (rc === ERANGE) continue;
    // NSS could not look (no descriptor for /etc/passwd, say): not "no such account", which would be a lie.
    if (OUT_OF_RESOURCES.has(rc)) {
      throw new HvError('out-of-resources', `cannot look up uid ${uid}: getpwuid_r failed with ${errnoName(rc)}`);
    }
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
