// Caller identity: a SID string and how the caller proved it. What a SID stands for on the host (a Linux uid,
// a Windows account) and who administers the service are the hypervisor layer's to say.

/** A Windows-style security identifier, e.g. `S-1-22-1-1000`. */
export type Sid = string;

const SID_PATTERN = /^S-1-\d{1,15}(-\d{1,10}){1,15}$/;

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
