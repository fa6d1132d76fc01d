// Caller identity: a SID string, and how Linux uids map to it. Never decides what a caller may do beyond
// "is this the administrator".

/** A Windows-style security identifier, e.g. `S-1-22-1-1000`. */
export type Sid = string;

/** Samba's SID authority for Unix users: uid N is `S-1-22-1-N`. */
const UNIX_USER_SID_PREFIX = 'S-1-22-1-';
const SID_PATTERN = /^S-1-\d{1,15}(-\d{1,10}){1,15}$/;

export const ROOT_SID: Sid = sidForUid(0);

export function sidForUid(uid: number): Sid {
  if (!Number.isInteger(uid) || uid < 0 || uid > 0xffffffff) throw new RangeError(`not a uid: ${uid}`);
  return `${UNIX_USER_SID_PREFIX}${uid}`;
}

/** The uid a Unix-user SID stands for, or undefined for any other SID. */
export function uidForSid(sid: Sid): number | undefined {
  if (!sid.startsWith(UNIX_USER_SID_PREFIX)) return undefined;
  const rest = sid.slice(UNIX_USER_SID_PREFIX.length);
  if (!/^(0|[1-9]\d{0,9})$/.test(rest)) return undefined;
  const uid = Number(rest);
  return uid <= 0xffffffff ? uid : undefined;
}

export function isSid(value: string): boolean {
  return SID_PATTERN.test(value);
}

/** How a request reached us: the local socket proves the caller; TCP callers prove themselves by token. */
export type Transport = 'local' | 'tcp';

/** Who is asking, as established by the transport or a token. */
export interface Caller {
  readonly sid: Sid;
  readonly transport: Transport;
  /** The token that authenticated a TCP caller. */
  readonly tokenId?: string;
}

/** Root is the administrator: it may list sessions and mint tokens for other SIDs. */
export function isAdministrator(caller: Caller): boolean {
  return caller.sid === ROOT_SID;
}
