// One user's session: the per-SID home of everything a user owns (like WSL's LxssUserSessionImpl). Later
// issues hang that user's distributions, instances and processes here.

import type { Sid } from './identity.js';
import { uidForSid } from './identity.js';

export interface SessionInfo {
  readonly sid: Sid;
  /** the host account name, or null when the SID has no local account */
  readonly user: string | null;
  readonly uid: number | null;
  readonly home: string | null;
  readonly createdAt: string;
}

export interface AccountLookup {
  (uid: number): { name: string; home: string } | undefined;
}

export class UserSession {
  readonly sid: Sid;
  readonly uid: number | null;
  readonly createdAt: Date;
  private readonly accounts: AccountLookup;

  constructor(sid: Sid, accounts: AccountLookup, createdAt = new Date()) {
    this.sid = sid;
    this.uid = uidForSid(sid) ?? null;
    this.accounts = accounts;
    this.createdAt = createdAt;
  }

  /** Names are looked up on each call: accounts may be created or renamed while the service runs. */
  describe(): SessionInfo {
    const account = this.uid === null ? undefined : this.accounts(this.uid);
    return {
      sid: this.sid,
      user: account?.name ?? null,
      uid: this.uid,
      home: account?.home ?? null,
      createdAt: this.createdAt.toISOString(),
    };
  }
}
