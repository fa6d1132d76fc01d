// The service root: the objects every request reaches through (sessions, tokens, the auth limiter) and the
// rules that span them. Transport-free: callers arrive here already identified as a Caller.

import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Hypervisor } from '../hv/index.js';
import { AuthFailureLimiter } from './auth-limiter.js';
import { LxssError } from './errors.js';
import { type Caller, isAdministrator, isSid, type Sid, sidForUid } from './identity.js';
import { SessionManager } from './session-manager.js';
import type { UserSession } from './session.js';
import { type TokenInfo, TokenStore } from './token-store.js';

export interface ServiceOptions {
  readonly stateDir: string;
  readonly maxImportBytes: number;
  readonly maxImportEntries: number;
  readonly instanceIdleTimeout: number;
  readonly vmIdleTimeout: number;
  readonly sharedFolders: ReadonlyArray<{ name: string; hostPath: string }>;
  readonly processRetentionMs: number;
  readonly maxProcesses: number;
  readonly maxRunOutputBytes: number;
  readonly maxStreams: number;
  /** WSL's [wsl2] memory, swap and processors, and maxPids: each user's VM's limits */
  readonly memoryBytes: number | null;
  readonly swapBytes: number | null;
  readonly processors: number | null;
  readonly maxPids: number;
  readonly authFailureLimit: number;
  readonly authFailureGlobalLimit: number;
  readonly authFailureWindowMs: number;
}

/** Where core reports what an operator should see in the service log. */
export type ServiceLog = (message: string, detail?: Record<string, unknown>) => void;

export interface MintTokenRequest {
  /** mint for this SID instead of the caller's (administrator only) */
  sid?: string;
  label?: string;
  expiresInSeconds?: number;
}

export class LxssService {
  readonly sessions: SessionManager;
  readonly authLimiter: AuthFailureLimiter;

  private constructor(
    readonly hv: Hypervisor,
    private readonly tokens: TokenStore,
    private readonly stateDirClaim: { release(): void },
    options: ServiceOptions,
    log: ServiceLog,
  ) {
    this.sessions = new SessionManager({
      accounts: (uid) => hv.account(uid),
      hv,
      usersDir: join(options.stateDir, 'users'),
      maxImportBytes: options.maxImportBytes,
      maxImportEntries: options.maxImportEntries,
      instanceIdleTimeout: options.instanceIdleTimeout,
      vmIdleTimeout: options.vmIdleTimeout,
      sharedFolders: options.sharedFolders,
      processRetentionMs: options.processRetentionMs,
      maxProcesses: options.maxProcesses,
      maxRunOutputBytes: options.maxRunOutputBytes,
      maxStreams: options.maxStreams,
      vmLimits: {
        memoryBytes: options.memoryBytes,
        swapBytes: options.swapBytes,
        processors: options.processors,
        maxProcesses: options.maxPids,
      },
      log,
    });
    this.authLimiter = new AuthFailureLimiter({
      maxFailures: options.authFailureLimit,
      maxGlobalFailures: options.authFailureGlobalLimit,
      windowMs: options.authFailureWindowMs,
    });
  }

  static async open(hv: Hypervisor, options: ServiceOptions, log: ServiceLog = () => undefined): Promise<LxssService> {
    // Traversable by everyone (each user must reach its own distributions folder), listable by none.
    await mkdir(join(options.stateDir, 'users'), { recursive: true, mode: 0o711 });
    await chmod(options.stateDir, 0o711);
    await chmod(join(options.stateDir, 'users'), 0o711);
    // Before anything is read: a second service on the same folder would "recover" the first one's imports.
    const claim = hv.claimStateDir(options.stateDir);
    try {
      const tokens = await TokenStore.open(join(options.stateDir, 'tokens.json'), undefined, (fault, movedTo) =>
        log(`the token file is damaged and was set aside; starting with no tokens (mint new ones over the local socket)`, {
          file: fault.path,
          fault: fault.fault,
          movedTo,
        }),
      );
      const service = new LxssService(hv, tokens, claim, options, log);
      await service.sessions.recoverAll();
      return service;
    } catch (error) {
      claim.release();
      throw error;
    }
  }

  /** The caller a kernel-proven uid on the local socket stands for. */
  localCaller(uid: number): Caller {
    return { sid: sidForUid(uid), transport: 'local' };
  }

  /** The caller a bearer token stands for, or undefined when the token proves nothing. */
  tokenCaller(presented: string): Caller | undefined {
    const token = this.tokens.verify(presented);
    return token && { sid: token.sid, transport: 'tcp', tokenId: token.id };
  }

  sessionOf(caller: Caller): UserSession {
    return this.sessions.forSid(caller.sid);
  }

  /** All sessions; the administrator's view. */
  listSessions(caller: Caller): UserSession[] {
    if (!isAdministrator(caller)) throw new LxssError('E_ACCESSDENIED', 'only root may list all sessions');
    return this.sessions.list();
  }

  /**
   * Mints a token. Only a caller the OS has proven (the local socket) may mint, root included: a token is never
   * a way to make more tokens, so a leaked one (root's too) cannot outlive its own expiry or revocation. Root may
   * mint for another SID, as it could act as that user anyway.
   */
  async mintToken(caller: Caller, request: MintTokenRequest): Promise<{ token: string; info: TokenInfo }> {
    const admin = isAdministrator(caller);
    if (caller.transport !== 'local') {
      throw new LxssError('E_ACCESSDENIED', 'tokens are minted only over the local socket, where the OS proves who you are');
    }
    const sid: Sid = request.sid ?? caller.sid;
    if (!isSid(sid)) throw new LxssError('E_INVALIDARG', `"${sid}" is not a SID`);
    if (sid !== caller.sid && !admin) {
      throw new LxssError('E_ACCESSDENIED', 'only root may mint a token for another SID');
    }
    const expiresAt =
      request.expiresInSeconds === undefined ? undefined : new Date(Date.now() + request.expiresInSeconds * 1000);
    return this.tokens.mint({ sid, label: request.label, expiresAt });
  }

  /** The caller's tokens; the administrator may ask for another SID's (`sid`) or everyone's (`'*'`). */
  listTokens(caller: Caller, sid: Sid = caller.sid): TokenInfo[] {
    if (sid !== caller.sid && !isAdministrator(caller)) {
      throw new LxssError('E_ACCESSDENIED', "only root may list another SID's tokens");
    }
    return sid === '*' ? this.tokens.listAll() : this.tokens.list(sid);
  }

  /** Revokes one of the caller's tokens; the administrator may revoke anyone's, as it may mint them. */
  async revokeToken(caller: Caller, id: string): Promise<void> {
    if (!(await this.tokens.revoke(isAdministrator(caller) ? undefined : caller.sid, id))) {
      throw new LxssError('ERROR_NOT_FOUND', `you have no token ${id}`);
    }
  }

  /**
   * Calls `ended` once when what authenticated `caller` ends: its token revoked or expired. A caller the OS
   * proved (the local socket) never ends. Returns the function that stops watching.
   */
  whenCallerEnds(caller: Caller, ended: () => void): () => void {
    if (caller.tokenId === undefined) return () => undefined;
    return this.tokens.watch(caller.tokenId, ended);
  }

  /** Stops every session's instances and VM, then writes what is pending. */
  async close(): Promise<void> {
    await Promise.all(this.sessions.list().map((session) => session.shutdown().catch(() => undefined)));
    await this.tokens.close();
    this.stateDirClaim.release();
  }
}
