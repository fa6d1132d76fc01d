// One user's session: the per-SID home of everything a user owns (like WSL's LxssUserSessionImpl) — its
// event bus and its distributions; instances and processes join them in later issues.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DistroFiles } from '../hv/index.js';
import { Distributions } from './distributions.js';
import { LxssError } from './errors.js';
import { EventBus } from './events.js';
import type { Sid } from './identity.js';
import { uidForSid } from './identity.js';
import { Registry } from './registry.js';

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

/** What every session shares: the host's accounts and files, and where state is kept. */
export interface SessionContext {
  readonly accounts: AccountLookup;
  readonly files: DistroFiles;
  /** `<stateDir>/users`: one folder per SID */
  readonly usersDir: string;
  readonly maxImportBytes: number;
}

export class UserSession {
  readonly sid: Sid;
  readonly uid: number | null;
  readonly createdAt = new Date();
  readonly events = new EventBus();
  private distributionsReady: Promise<Distributions> | undefined;

  constructor(
    sid: Sid,
    private readonly context: SessionContext,
  ) {
    this.sid = sid;
    this.uid = uidForSid(sid) ?? null;
  }

  /** Names are looked up on each call: accounts may be created or renamed while the service runs. */
  describe(): SessionInfo {
    const account = this.uid === null ? undefined : this.context.accounts(this.uid);
    return {
      sid: this.sid,
      user: account?.name ?? null,
      uid: this.uid,
      home: account?.home ?? null,
      createdAt: this.createdAt.toISOString(),
    };
  }

  /** This user's distributions, opened (and recovered after a crash) on first use. */
  distributions(): Promise<Distributions> {
    this.distributionsReady ??= this.openDistributions();
    return this.distributionsReady;
  }

  private async openDistributions(): Promise<Distributions> {
    const uid = this.uid;
    if (uid === null || this.context.accounts(uid) === undefined) {
      this.distributionsReady = undefined;
      throw new LxssError('E_ACCESSDENIED', `${this.sid} has no account on this host to own distributions`);
    }
    const folder = join(this.context.usersDir, this.sid);
    // Traversable, not listable: the owner must reach its distributions folder inside.
    await mkdir(folder, { recursive: true, mode: 0o711 });
    const registry = await Registry.open(join(folder, 'registry.json'));
    const distributions = new Distributions(registry, this.context.files, this.events, {
      uid,
      defaultFolder: join(folder, 'distributions'),
      maxImportBytes: this.context.maxImportBytes,
    });
    await distributions.recover();
    return distributions;
  }
}
