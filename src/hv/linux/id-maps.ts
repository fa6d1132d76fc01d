// The id mapping of a user's namespace: the user's uid (and primary gid) become 0 inside, and its
// subordinate range from /etc/subuid and /etc/subgid becomes 1..N, so inner id k is outer base+k. Root's
// sessions map identity. A user without a range gets a one-id map (only its own ids) and a warning.
// Never hands a user ids another account owns: a range overlapping another user's range, or holding a uid
// or gid the host's NSS knows, is refused. It edits the subordinate files only when the admin opted in
// (allocate), and then under shadow's own lock files, so useradd/usermod and other services never collide.

import { execFile } from 'node:child_process';
import { closeSync, constants, fdatasyncSync, linkSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { chown, copyFile, open, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { HvError } from '../errors.js';
import type { LinuxAccount as Account } from './accounts.js';
import { errnoName } from './fd-passing.js';
import { EACCES, EAGAIN, F_SETLK, F_WRLCK, fcntl, lastErrno } from './libc.js';
import { identityMapping, type IdMapping } from './nsexec.js';

/** Inner ids 0..RANGE_SIZE-1; base+0 of a subordinate range is left unused so inner k ↔ outer base+k. */
export const RANGE_SIZE = 65536;
/** The kernel's overflow id: `nobody`, never a range owner. */
const OVERFLOW_ID = 65534;
/** How long a per-id NSS check of a range is trusted while /etc/passwd and /etc/group stay unchanged. */
const NSS_CHECK_TTL_MS = 10 * 60 * 1000;
/** ids per getent call (its argv stays far below ARG_MAX) */
const GETENT_CHUNK = 16384;
/** shadow retries its lock 15 times a second apart; so do we, a little faster. */
const LOCK_TRIES = 60;
const LOCK_RETRY_MS = 250;

export interface IdFiles {
  readonly subuid: string;
  readonly subgid: string;
  readonly loginDefs: string;
  /** lckpwdf(3)'s lock, which shadow's tools take before their own lock files */
  readonly passwdLock: string;
}

export interface IdMapOptions {
  /** where subuid, subgid and login.defs are (default /etc) */
  readonly dir?: string;
  /** give a range to an eligible user without one (edits subuid/subgid); default false */
  readonly allocate?: boolean;
}

/** A mapping and what the user should know about it (e.g. that it holds only their own ids). */
export interface MappingPlan {
  readonly mapping: IdMapping;
  readonly warnings: readonly string[];
}

type Kind = 'uid' | 'gid';

interface Range {
  readonly owner: string;
  readonly base: number;
  readonly count: number;
}

interface Interval {
  readonly start: number;
  /** inclusive */
  readonly end: number;
  /** who holds it, for messages: `bob's range 165536-231071` or `the account victim (uid 500000100)` */
  readonly holder: string;
}

interface LoginDefs {
  readonly uidMin: number;
  readonly subUidMin: number;
  readonly subUidMax: number;
  readonly subGidMin: number;
  readonly subGidMax: number;
}

export function idFiles(dir = '/etc'): IdFiles {
  return {
    subuid: join(dir, 'subuid'),
    subgid: join(dir, 'subgid'),
    loginDefs: join(dir, 'login.defs'),
    passwdLock: join(dir, '.pwd.lock'),
  };
}

function parseRanges(text: string): Range[] {
  return text
    .split('\n')
    .map((line) => line.trim().split(':'))
    .filter((fields) => fields.length === 3 && /^\d+$/.test(fields[1]!) && /^\d+$/.test(fields[2]!))
    .map(([owner, base, count]) => ({ owner: owner!, base: Number(base), count: Number(count) }));
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
}

/** login.defs as shadow reads it (`NAME value`, `#` comments), with shadow's defaults for what is absent. */
async function readLoginDefs(path: string): Promise<LoginDefs> {
  const values = new Map<string, number>();
  for (const line of (await readText(path)).split('\n')) {
    const match = /^\s*([A-Z_]+)\s+(\d+)\s*(?:#.*)?$/.exec(line);
    if (match) values.set(match[1]!, Number(match[2]));
  }
  const get = (name: string, fallback: number) => values.get(name) ?? fallback;
  return {
    uidMin: get('UID_MIN', 1000),
    subUidMin: get('SUB_UID_MIN', 100000),
    subUidMax: get('SUB_UID_MAX', 600100000),
    subGidMin: get('SUB_GID_MIN', 100000),
    subGidMax: get('SUB_GID_MAX', 600100000),
  };
}

function ownedBy(range: Range, account: Account): boolean {
  return range.owner === account.name || range.owner === String(account.uid);
}

function rangeOf(ranges: Range[], account: Account): Range | undefined {
  return ranges.find((range) => ownedBy(range, account) && range.count >= RANGE_SIZE);
}

function span(base: number, count = RANGE_SIZE): string {
  return `${base}-${base + count - 1}`;
}

/** The ids the namespace actually maps of a range: base+1 .. base+RANGE_SIZE-1. */
function mappedPart(range: { base: number }): { start: number; end: number } {
  return { start: range.base + 1, end: range.base + RANGE_SIZE - 1 };
}

function otherRanges(ranges: Range[], account: Account | undefined, file: string): Interval[] {
  return ranges
    .filter((range) => account === undefined || !ownedBy(range, account))
    .map((range) => ({
      start: range.base,
      end: range.base + range.count - 1,
      holder: `${range.owner}'s range ${span(range.base, range.count)} in ${file}`,
    }));
}

/** getent with many keys: each numeric key is a getpwuid/getgrgid through every NSS source the host has. */
function getent(database: 'passwd' | 'group', keys: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('getent', [database, ...keys], { maxBuffer: 64 << 20 }, (error, stdout) => {
      // 2: some keys were not found (the usual answer); 0: all were.
      const code = (error as { code?: number | string } | null)?.code;
      if (error && code !== 2) {
        reject(new HvError(code === 'ENOENT' ? 'missing-tool' : 'failed', `getent ${database} failed: ${error.message}`));
      } else resolve(stdout);
    });
  });
}

function accountsIn(database: 'passwd' | 'group', text: string): Interval[] {
  const kind = database === 'passwd' ? 'uid' : 'gid';
  const noun = database === 'passwd' ? 'account' : 'group';
  return text
    .split('\n')
    .map((line) => line.split(':'))
    .filter((fields) => fields.length >= 3 && /^\d+$/.test(fields[2]!))
    .map((fields) => {
      const id = Number(fields[2]);
      return { start: id, end: id, holder: `the ${noun} ${fields[0]} (${kind} ${id})` };
    });
}

const LISTED_TTL_MS = 5000;
const listed = new Map<Kind, { at: number; stamp: string; found: Promise<Interval[]> }>();

/**
 * Every account (or group) the host can list: cheap, but NSS sources that do not enumerate are missing. Kept
 * a few seconds (the session view asks on every request).
 */
async function listedIds(kind: Kind): Promise<Interval[]> {
  const stamp = await nssStamp();
  const cached = listed.get(kind);
  if (cached && cached.stamp === stamp && Date.now() - cached.at < LISTED_TTL_MS) return cached.found;
  const database = kind === 'uid' ? 'passwd' : 'group';
  const found = getent(database, []).then((text) => accountsIn(database, text), () => []);
  listed.set(kind, { at: Date.now(), stamp, found });
  return found;
}

/** Per-id checks made (or under way), by kind and span. */
const nssChecks = new Map<string, { at: number; stamp: string; found: Promise<Interval[]>; done?: Interval[] }>();

async function nssStamp(): Promise<string> {
  const times = await Promise.all(['/etc/passwd', '/etc/group'].map((path) => stat(path).then((s) => s.mtimeMs, () => 0)));
  return times.join(':');
}

/** The accounts (or groups) NSS knows with an id in start..end, each asked for by id (getpwuid/getgrgid). */
async function knownIdsIn(kind: Kind, start: number, end: number): Promise<Interval[]> {
  const key = `${kind}:${start}:${end}`;
  const stamp = await nssStamp();
  const cached = nssChecks.get(key);
  if (cached && cached.stamp === stamp && Date.now() - cached.at < NSS_CHECK_TTL_MS) return cached.found;
  const database = kind === 'uid' ? 'passwd' : 'group';
  const chunks: string[][] = [];
  for (let first = start; first <= end; first += GETENT_CHUNK) {
    const keys: string[] = [];
    for (let id = first; id <= Math.min(end, first + GETENT_CHUNK - 1); id++) keys.push(String(id));
    chunks.push(keys);
  }
  // Shared while under way, so concurrent first uses of a range run one check.
  const found = Promise.all(chunks.map((keys) => getent(database, keys))).then((texts) =>
    texts.flatMap((text) => accountsIn(database, text)),
  );
  const entry: { at: number; stamp: string; found: Promise<Interval[]>; done?: Interval[] } = { at: Date.now(), stamp, found };
  nssChecks.set(key, entry);
  found.then(
    (ids) => (entry.done = ids),
    () => {
      if (nssChecks.get(key) === entry) nssChecks.delete(key);
    },
  );
  return found;
}

function overlapping(intervals: Interval[], start: number, end: number): Interval[] {
  return intervals.filter((interval) => interval.start <= end && interval.end >= start);
}

/** Serialises this process's allocations; the lock files serialise them with other processes. */
let allocating: Promise<unknown> = Promise.resolve();

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One try at shadow's lock of `file` (lib/commonio.c): write our pid to `file.PID`, link it to `file.lock`
 * (atomic: fails when the lock exists) and check the link count is 2. A lock whose pid is dead is stale and
 * taken over, as shadow does.
 */
function tryLock(file: string): boolean {
  const lock = `${file}.lock`;
  const mine = `${file}.${process.pid}`;
  const fd = openSync(mine, 'w', 0o600);
  try {
    writeSync(fd, `${process.pid}\0`);
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const linked = () => {
    try {
      linkSync(mine, lock);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
    return statSync(mine).nlink === 2;
  };
  try {
    if (linked()) return true;
    let holder = Number.NaN;
    try {
      holder = Number.parseInt(readFileSync(lock, 'utf8'), 10);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return linked();
      throw error;
    }
    // A lock without a valid pid is left alone (shadow refuses it too): an admin must look at it.
    if (!Number.isInteger(holder) || holder <= 0 || processAlive(holder)) return false;
    try {
      unlinkSync(lock);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    return linked();
  } finally {
    unlinkSync(mine);
  }
}

async function lockShadowFile(file: string): Promise<() => void> {
  for (let attempt = 1; ; attempt++) {
    if (tryLock(file)) {
      return () => {
        try {
          unlinkSync(`${file}.lock`);
        } catch {
          // gone already: nothing to release
        }
      };
    }
    if (attempt >= LOCK_TRIES) {
      throw new HvError('out-of-resources', `${file}.lock is held by another program (useradd, usermod, another lxssd); try again later`);
    }
    await delay(LOCK_RETRY_MS);
  }
}

/**
 * lckpwdf(3) without its blocking wait: a write lock (fcntl) on /etc/.pwd.lock. useradd and usermod take it
 * before their lock files and then try those only once, so holding it too makes them wait for us instead of failing.
 * Closing the descriptor releases it (this process holds it once at a time: allocations are serialised).
 */
async function lockPasswdFiles(path: string): Promise<() => void> {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT, 0o600);
  for (let attempt = 1; ; attempt++) {
    const lock = { l_type: F_WRLCK, l_whence: 0, l_start: 0, l_len: 0, l_pid: 0 };
    if (fcntl(fd, F_SETLK, 'lxssd_flock *', lock) === 0) return () => closeSync(fd);
    const errno = lastErrno();
    if ((errno !== EAGAIN && errno !== EACCES) || attempt >= LOCK_TRIES) {
      closeSync(fd);
      if (errno === EAGAIN || errno === EACCES) {
        throw new HvError('out-of-resources', `${path} is held by another program (useradd, usermod, another lxssd); try again later`);
      }
      throw new HvError('failed', `cannot lock ${path}: ${errnoName(errno)}`);
    }
    await delay(LOCK_RETRY_MS);
  }
}

/** Appends `line` to `file` as shadow writes its files: a backup `file-`, a new `file+` synced, renamed over. */
async function appendLine(file: string, line: string): Promise<void> {
  const before = await readText(file);
  const info = await stat(file).catch(() => undefined);
  if (info) await copyFile(file, `${file}-`);
  const next = `${file}+`;
  const handle = await open(next, 'w', info ? info.mode & 0o777 : 0o644);
  try {
    await handle.writeFile(`${before}${before === '' || before.endsWith('\n') ? '' : '\n'}${line}\n`);
    if (info) await chown(next, info.uid, info.gid);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(next, file);
  const dir = await open(join(file, '..'), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Owns a host's subordinate id files: reads them, checks them, and (opted in) adds ranges to them. */
export class IdMaps {
  readonly files: IdFiles;
  private readonly allocate: boolean;

  constructor(options: IdMapOptions = {}) {
    this.files = idFiles(options.dir);
    this.allocate = options.allocate ?? false;
  }

  /** The mapping for a namespace owned by `account`; `conflict` when its range holds ids others own. */
  async planFor(account: Account): Promise<MappingPlan> {
    if (account.uid === 0) return { mapping: identityMapping(), warnings: [] };
    let { uids, gids } = await this.rangesOf(account);
    if ((!uids || !gids) && this.allocate && (await this.eligible(account))) {
      ({ uids, gids } = await this.allocateFor(account));
    }
    if (!uids || !gids) return { mapping: oneIdMapping(account), warnings: [await this.noRangeWarning(account)] };
    await this.refuseConflicts(account, uids, gids, true);
    return {
      mapping: {
        uids: [
          { inner: 0, outer: account.uid, count: 1 },
          { inner: 1, outer: uids.base + 1, count: RANGE_SIZE - 1 },
        ],
        gids: [
          { inner: 0, outer: account.gid, count: 1 },
          { inner: 1, outer: gids.base + 1, count: RANGE_SIZE - 1 },
        ],
      },
      warnings: [],
    };
  }

  /**
   * What `account`'s VM would lack or be refused for, without changing anything and cheaply (NSS checks
   * already made are reused, none is started): for the session view.
   */
  async warningsFor(account: Account): Promise<string[]> {
    if (account.uid === 0) return [];
    const { uids, gids } = await this.rangesOf(account);
    if (!uids || !gids) {
      if (this.allocate && (await this.eligible(account))) return [];
      return [await this.noRangeWarning(account)];
    }
    try {
      await this.refuseConflicts(account, uids, gids, false);
      return [];
    } catch (error) {
      if (error instanceof HvError && error.kind === 'conflict') return [`your VM will not start: ${error.message}`];
      throw error;
    }
  }

  private async rangesOf(account: Account): Promise<{ uids?: Range; gids?: Range }> {
    const [uids, gids] = await Promise.all([this.files.subuid, this.files.subgid].map(async (file) => parseRanges(await readText(file))));
    return { uids: rangeOf(uids!, account), gids: rangeOf(gids!, account) };
  }

  /** System accounts (below UID_MIN) and nobody never get a range. */
  private async eligible(account: Account): Promise<boolean> {
    const defs = await readLoginDefs(this.files.loginDefs);
    return account.uid >= defs.uidMin && account.uid !== OVERFLOW_ID && account.name !== 'nobody';
  }

  /** Throws `conflict` naming both parties when a mapped id of `account` belongs to another range or account. */
  private async refuseConflicts(account: Account, uids: Range, gids: Range, perId: boolean): Promise<void> {
    const [subuid, subgid] = await Promise.all([this.files.subuid, this.files.subgid].map(async (file) => parseRanges(await readText(file))));
    const checks = (
      [
        ['uid', uids, subuid!, this.files.subuid],
        ['gid', gids, subgid!, this.files.subgid],
      ] as const
    ).map(async ([kind, range, ranges, file]) => {
      const { start, end } = mappedPart(range);
      const known = perId
        ? await knownIdsIn(kind, start, end)
        : [...(await listedIds(kind)), ...(nssChecks.get(`${kind}:${start}:${end}`)?.done ?? [])];
      const clashes = [...overlapping(otherRanges(ranges, account, file), start, end), ...overlapping(known, start, end)];
      if (clashes.length === 0) return undefined;
      const named = clashes.slice(0, 3).map((clash) => clash.holder);
      if (clashes.length > 3) named.push(`${clashes.length - 3} more`);
      return `${account.name}'s ${kind} range ${span(range.base, range.count)} in ${file} overlaps ${named.join(', ')}`;
    });
    const clashes = (await Promise.all(checks)).filter((clash) => clash !== undefined);
    if (clashes.length > 0) {
      throw new HvError('conflict', `${clashes.join('; ')}; an administrator must give one of them other ids`);
    }
  }

  /**
   * The lowest range of RANGE_SIZE ids inside login.defs' bounds for every kind in `kinds`, free of every
   * range in the files and every id NSS knows (listed ones first, then each candidate id asked for by id
   * unless `quick`).
   */
  private async findFree(kinds: Kind[], quick: boolean): Promise<number | undefined> {
    const defs = await readLoginDefs(this.files.loginDefs);
    const bounds = { uid: [defs.subUidMin, defs.subUidMax], gid: [defs.subGidMin, defs.subGidMax] } as const;
    const low = Math.max(...kinds.map((kind) => bounds[kind][0]));
    const high = Math.min(...kinds.map((kind) => bounds[kind][1]));
    const taken: Interval[] = [];
    for (const kind of kinds) {
      const file = kind === 'uid' ? this.files.subuid : this.files.subgid;
      taken.push(...otherRanges(parseRanges(await readText(file)), undefined, file), ...(await listedIds(kind)));
    }
    let base = low;
    while (base + RANGE_SIZE - 1 <= high) {
      const end = base + RANGE_SIZE - 1;
      const clashes = overlapping(taken, base, end);
      if (clashes.length === 0 && !quick) {
        for (const kind of kinds) clashes.push(...(await knownIdsIn(kind, base, end)));
        taken.push(...clashes);
      }
      if (clashes.length === 0) return base;
      base = Math.max(...clashes.map((clash) => clash.end)) + 1;
    }
    return undefined;
  }

  /** Gives `account` the ranges it lacks, under shadow's locks of both files (subuid first, as shadow). */
  private allocateFor(account: Account): Promise<{ uids?: Range; gids?: Range }> {
    const step = allocating.then(async () => {
      // shadow's order: lckpwdf, then each file's own lock.
      const unlocks = [await lockPasswdFiles(this.files.passwdLock)];
      try {
        unlocks.push(await lockShadowFile(this.files.subuid));
        unlocks.push(await lockShadowFile(this.files.subgid));
        // Read again under the locks: another service (or useradd) may have given it one meanwhile.
        const current = await this.rangesOf(account);
        const missing = (['uid', 'gid'] as const).filter((kind) => !(kind === 'uid' ? current.uids : current.gids));
        if (missing.length === 0) return current;
        const base = await this.findFree(missing, false);
        if (base === undefined) {
          // The host has run out of ids to give (a 503 to the caller, not a bug's 500): an administrator must widen
          // SUB_UID_MAX/SUB_GID_MAX or provision a range by hand.
          throw new HvError(
            'out-of-resources',
            `no free range of ${RANGE_SIZE} ids is left for ${account.name} within login.defs' SUB_UID/SUB_GID bounds; an administrator must widen them or give ${account.name} a range`,
          );
        }
        for (const kind of missing) {
          await appendLine(kind === 'uid' ? this.files.subuid : this.files.subgid, `${account.name}:${base}:${RANGE_SIZE}`);
        }
        return this.rangesOf(account);
      } finally {
        for (const unlock of unlocks.reverse()) unlock();
      }
    });
    allocating = step.catch(() => undefined);
    return step;
  }

  private async noRangeWarning(account: Account): Promise<string> {
    const base = await this.findFree(['uid', 'gid'], true).catch(() => undefined);
    const free = base === undefined ? '100000-165535' : span(base);
    const why = !(await this.eligible(account))
      ? ' (lxssd never gives one to a system account or nobody)'
      : this.allocate
        ? ''
        : ' (lxssd does not edit those files unless [lxssd] allocateSubordinateIds = true)';
    return (
      `${account.name} has no range of ${RANGE_SIZE} subordinate ids in ${this.files.subuid} and ${this.files.subgid}${why}, ` +
      `so distributions run with only your own uid and gid (as root inside) and no other user can exist in them. ` +
      `An administrator can provision one, e.g.: usermod --add-subuids ${free} --add-subgids ${free} ${account.name}` +
      (base === undefined ? '' : ' (that range is free of other ranges and of the accounts this host lists now)')
    );
  }
}

/** Only the user's own ids: its uid and primary gid as 0 inside, nothing else. */
export function oneIdMapping(account: Account): IdMapping {
  return { uids: [{ inner: 0, outer: account.uid, count: 1 }], gids: [{ inner: 0, outer: account.gid, count: 1 }] };
}
