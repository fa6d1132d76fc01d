// The service root: the objects every request reaches through (sessions, tokens, the auth limiter) and the
// rules that span them. Transport-free: callers arrive here already identified as a Caller.

import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config.js';
import type { Hypervisor } from '../hv/index.js';
import { AuthFailureLimiter } from './auth-limiter.js';
import { LxssError } from './errors.js';
import { type Caller, isSid, type Sid } from './identity.js';
import { OneTimeCodes } from './one-time-codes.js';
import { SessionManager } from './session-manager.js';
import type { UserSession } from './session.js';
import { type TokenInfo, TokenStore } from './token-store.js';

/** What the service takes of the configuration (src/config.ts declares each setting once). */
export type ServiceOptions = Pick<
  Config,
  | 'stateDir'
  | 'maxImportBytes'
  | 'maxImportEntries'
  | 'instanceIdleTimeout'
  | 'vmIdleTimeout'
  | 'sharedFolders'
  | 'processRetentionMs'
  | 'maxProcesses'
  | 'maxRunOutputBytes'
  | 'maxStreams'
  | 'memoryBytes'
  | 'swapBytes'
  | 'processors'
  | 'maxPids'
  | 'authFailureLimit'
  | 'authFailureGlobalLimit'
  | 'authFailureWindowMs'
>;

/** Where core reports what an operator should see in the service log. */
export type ServiceLog = (message: string, detail?: Record<string, unknown>) => void;

export interface MintTokenRequest {
  /** mint for this SID instead of the caller's (administrator only) */
  sid?: string;
  label?: string;
  expiresInSeconds?: number;
}

/** What a ticket may be used for: one download of one export, or one event stream. */
export type TicketRequest = { purpose: 'export'; distro: string; format: 'tar' | 'tar.gz' | 'tar.xz' } | { purpose: 'events' };
export type TicketPurpose = TicketRequest['purpose'];

/** What a ticket is bound to, besides its SID: the token that made it, and what it is for. */
export type TicketBinding =
  | { purpose: 'export'; tokenId?: string; distributionId: string; format: 'tar' | 'tar.gz' | 'tar.xz' }
  | { purpose: 'events'; tokenId?: string };

/** Tickets and login codes are good for a minute (issue 12: "one request within 60 s"). */
const ONE_TIME_LIFETIME_MS = 60_000;
/** The token a login code is exchanged for: the dashboard's, for a working day. */
export const DASHBOARD_TOKEN_LABEL = 'dashboard';
export const DASHBOARD_TOKEN_LIFETIME_S = 12 * 3600;

export class LxssService {
  readonly sessions: SessionManager;
  readonly authLimiter: AuthFailureLimiter;
  private readonly tickets = new OneTimeCodes<TicketBinding>({ noun: 'ticket', prefix: 'lxsst_', lifetimeMs: ONE_TIME_LIFETIME_MS, maxPerSid: 64 });
  private readonly loginCodes = new OneTimeCodes<null>({ noun: 'login code', prefix: 'lxssl_', lifetimeMs: ONE_TIME_LIFETIME_MS, maxPerSid: 16 });

  private constructor(
    readonly hv: Hypervisor,
    private readonly tokens: TokenStore,
    private readonly stateDirClaim: { release(): void },
    options: ServiceOptions,
    log: ServiceLog,
  ) {
    this.sessions = new SessionManager({
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

  /** The caller the OS proved on the local socket. */
  localCaller(sid: Sid): Caller {
    return { sid, transport: 'local' };
  }

  /** Whether the caller administers the service (the host decides: on Linux, root). */
  isAdministrator(caller: Caller): boolean {
    return this.hv.isAdministrator(caller.sid);
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
    if (!this.isAdministrator(caller)) throw new LxssError('E_ACCESSDENIED', 'only root may list all sessions');
    return this.sessions.list();
  }

  /**
   * Mints a token. Only a caller the OS has proven (the local socket) may mint, root included: a token is never
   * a way to make more tokens, so a leaked one (root's too) cannot outlive its own expiry or revocation. Root may
   * mint for another SID, as it could act as that user anyway.
   */
  async mintToken(caller: Caller, request: MintTokenRequest): Promise<{ token: string; info: TokenInfo }> {
    const admin = this.isAdministrator(caller);
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
    if (sid !== caller.sid && !this.isAdministrator(caller)) {
      throw new LxssError('E_ACCESSDENIED', "only root may list another SID's tokens");
    }
    return sid === '*' ? this.tokens.listAll() : this.tokens.list(sid);
  }

  /** Revokes one of the caller's tokens; the administrator may revoke anyone's, as it may mint them. */
  async revokeToken(caller: Caller, id: string): Promise<void> {
    if (!(await this.tokens.revoke(this.isAdministrator(caller) ? undefined : caller.sid, id))) {
      throw new LxssError('ERROR_NOT_FOUND', `you have no token ${id}`);
    }
    this.tickets.voidWhere((binding) => binding.tokenId === id);
  }

  /**
   * A one-time ticket for what a browser can only do by URL (a download, an EventSource): good once, within
   * a minute, on the route it names, for the caller's SID, and only while the token that made it lives.
   */
  async mintTicket(caller: Caller, request: TicketRequest): Promise<{ ticket: string; expiresAt: string }> {
    const binding: TicketBinding =
      request.purpose === 'export'
        ? {
            purpose: 'export',
            tokenId: caller.tokenId,
            distributionId: (await this.sessionOf(caller).distributions()).get(request.distro).id,
            format: request.format,
          }
        : { purpose: 'events', tokenId: caller.tokenId };
    const { code, expiresAt } = this.tickets.issue(caller.sid, binding);
    return { ticket: code, expiresAt };
  }

  /** The caller a ticket stands for on a route for `purpose`, and what it allows; undefined when it is no good. */
  redeemTicket(ticket: string, purpose: TicketPurpose): { caller: Caller; binding: TicketBinding } | undefined {
    const redeemed = this.tickets.redeem(ticket);
    if (!redeemed || redeemed.binding.purpose !== purpose) return undefined;
    const { tokenId } = redeemed.binding;
    if (tokenId !== undefined && !this.tokens.isAlive(tokenId)) return undefined;
    return { caller: { sid: redeemed.sid, transport: 'tcp', tokenId }, binding: redeemed.binding };
  }

  /**
   * A one-time login code (`lxssd open`): only over the local socket, where the OS proves the caller, since
   * it is worth a token. Exchanged once, within a minute, by exchangeLoginCode.
   */
  mintLoginCode(caller: Caller): { code: string; expiresAt: string } {
    if (caller.transport !== 'local') {
      throw new LxssError('E_ACCESSDENIED', 'login codes are minted only over the local socket, where the OS proves who you are');
    }
    return this.loginCodes.issue(caller.sid, null);
  }

  /** Spends a login code for a dashboard token of the SID that minted it; undefined when the code is no good. */
  async exchangeLoginCode(code: string): Promise<{ token: string; info: TokenInfo } | undefined> {
    const redeemed = this.loginCodes.redeem(code);
    if (!redeemed) return undefined;
    return this.tokens.mint({
      sid: redeemed.sid,
      label: DASHBOARD_TOKEN_LABEL,
      expiresAt: new Date(Date.now() + DASHBOARD_TOKEN_LIFETIME_S * 1000),
    });
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
