// How this backend knows an owner: Samba's SID authority for Unix users, under which uid N is `S-1-22-1-N`.

import { HvError } from '../errors.js';
import type { OwnerSid } from '../types.js';

const UNIX_USER_SID_PREFIX = 'S-1-22-1-';

export function sidForUid(uid: number): OwnerSid {
  if (!Number.isInteger(uid) || uid < 0 || uid > 0xffffffff) throw new RangeError(`not a uid: ${uid}`);
  return `${UNIX_USER_SID_PREFIX}${uid}`;
}

/** The uid a Unix-user SID stands for, or undefined for any other SID. */
export function uidForSid(sid: OwnerSid): number | undefined {
  if (!sid.startsWith(UNIX_USER_SID_PREFIX)) return undefined;
  const rest = sid.slice(UNIX_USER_SID_PREFIX.length);
  if (!/^(0|[1-9]\d{0,9})$/.test(rest)) return undefined;
  const uid = Number(rest);
  return uid <= 0xffffffff ? uid : undefined;
}

/** The uid that owns what `owner` asks for; a SID that is no Unix user of this host owns nothing here. */
export function ownerUid(owner: OwnerSid): number {
  const uid = uidForSid(owner);
  if (uid === undefined) throw new HvError('not-permitted', `${owner} is not a user of this host (S-1-22-1-<uid>)`);
  return uid;
}
