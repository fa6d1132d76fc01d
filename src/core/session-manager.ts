// Maps each SID to exactly one UserSession, as WSL's LxssUserSessionFactory does.

import { readdir } from 'node:fs/promises';
import { StateFileError } from './atomic-file.js';
import { isSid, type Sid } from './identity.js';
import { type SessionContext, UserSession } from './session.js';

export class SessionManager {
  private readonly sessions = new Map<Sid, UserSession>();

  constructor(private readonly context: SessionContext) {}

  /** The session of `sid`, created on first use; the same object for the same SID, always. */
  forSid(sid: Sid): UserSession {
    let session = this.sessions.get(sid);
    if (!session) {
      session = new UserSession(sid, this.context);
      this.sessions.set(sid, session);
    }
    return session;
  }

  list(): UserSession[] {
    return [...this.sessions.values()];
  }

  /**
   * Opens every user's registry that exists on disk, which finishes what a killed service left half done. A
   * user whose registry is damaged is logged and left out: their requests answer LXSSD_E_STATE_FILE_DAMAGED
   * until the file is repaired; everyone else is served.
   */
  async recoverAll(): Promise<void> {
    const entries = await readdir(this.context.usersDir).catch(() => [] as string[]);
    for (const entry of entries) {
      if (!isSid(entry)) continue;
      await this.forSid(entry).distributions().catch((error: unknown) => {
        if (error instanceof StateFileError) {
          this.context.log("a user's registry is damaged; that user's distributions are unavailable until it is repaired", {
            sid: entry,
            file: error.path,
            fault: error.fault,
          });
        }
      });
    }
  }
}
