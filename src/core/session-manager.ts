// Maps each SID to exactly one UserSession, as WSL's LxssUserSessionFactory does.

import type { Sid } from './identity.js';
import { type AccountLookup, UserSession } from './session.js';

export class SessionManager {
  private readonly sessions = new Map<Sid, UserSession>();

  constructor(private readonly accounts: AccountLookup) {}

  /** The session of `sid`, created on first use; the same object for the same SID, always. */
  forSid(sid: Sid): UserSession {
    let session = this.sessions.get(sid);
    if (!session) {
      session = new UserSession(sid, this.accounts);
      this.sessions.set(sid, session);
    }
    return session;
  }

  list(): UserSession[] {
    return [...this.sessions.values()];
  }
}
