// A distribution's files on the host: `<basePath>/rootfs`. Every operation on them runs inside the owner's
// user namespace (lxssd-nsexec), so it can do no more than the owner could, and the ones that read or write
// the tree run chrooted into it, so no name in the tree can reach outside. The tools are busybox-static's.

import type { HelperProcess } from './helper-spawn.js';
import { once } from 'node:events';
import { access, chmod, chown, mkdir } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { finished, pipeline } from 'node:stream/promises';
import { PassThrough, type Readable } from 'node:stream';
import { HvError } from '../errors.js';
import type { ArchiveFormat, GuestUser, ImportLimits, ImportResult } from '../types.js';
import type { LinuxAccount } from './accounts.js';
import { findGuestUser, parsePasswd } from '../guest-users.js';
import { byteLimit, compressed, decompressed } from './archive-streams.js';
import { NSEXEC_EXIT_HELPER_FAILED, spawnInNamespace, type IdMapEntry, type IdMapping } from './nsexec.js';
import { type GuardReport, guardTar, OVERFLOW_ID } from './tar-guard.js';

const BUSYBOX = '/bin/busybox';
const ROOTFS = 'rootfs';
const STDERR_KEEP = 4000;

interface ToolRun {
  code: number;
  stdout: Buffer;
  stderr: string;
}

function collectStderr(child: HelperProcess): () => string {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < STDERR_KEEP) stderr += chunk.toString();
  });
  return () => stderr.trim();
}

async function exitCode(child: HelperProcess): Promise<number> {
  if (child.exitCode !== null) return child.exitCode;
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  // A helper on this host: the host's signal numbers are the right ones for 128+N.
  return code ?? 128 + (signal ? constants.signals[signal] : 0);
}

/** The exit code once all the child printed has been read too ('exit' may come before the last output). */
async function completed(child: HelperProcess): Promise<number> {
  await Promise.all([child.stdout, child.stderr].map((stream) => (stream ? finished(stream).catch(() => undefined) : undefined)));
  return exitCode(child);
}

function classifyToolFailure(stderr: string, what: string): HvError {
  if (/No space left on device|Disk quota exceeded/i.test(stderr)) {
    return new HvError('disk-full', `${what}: the disk is full`);
  }
  if (/Permission denied|Operation not permitted|Read-only file system/i.test(stderr)) {
    return new HvError('not-permitted', `${what}: ${stderr}`);
  }
  return new HvError('failed', `${what}: ${stderr || 'failed'}`);
}

/** A failure to make or fill a location's folders: also a file in the way, or a path no folder can be made at. */
function classifyLocationFailure(stderr: string, what: string): HvError {
  if (/File exists|Not a directory/i.test(stderr)) return new HvError('exists', `${what}: a file is in the way: ${stderr}`);
  if (/No such file or directory/i.test(stderr)) return new HvError('bad-path', `${what}: ${stderr}`);
  return classifyToolFailure(stderr, what);
}

function maps(entries: readonly IdMapEntry[], id: number): boolean {
  return entries.some((entry) => id >= entry.inner && id - entry.inner < entry.count);
}

/** What the guard changed, in words for the import's `warnings`. */
function importWarnings(report: GuardReport, mapping: IdMapping): string[] {
  const warnings: string[] = [];
  if (report.remappedOwners > 0) {
    const mapped = mapping.uids.reduce((sum, entry) => sum + entry.count, 0);
    const owner = maps(mapping.uids, OVERFLOW_ID) ? `the overflow id ${OVERFLOW_ID} (nobody/nogroup)` : 'root of the distribution (your own uid: you have a one-id mapping)';
    const more = report.remappedOwners - report.remappedExamples.length;
    warnings.push(
      `${report.remappedOwners} entries are owned by user or group ids your id mapping cannot hold (it maps ${mapped} ${mapped === 1 ? 'id' : 'ids'}); they were given ${owner} and lost any setuid/setgid bit: ${report.remappedExamples.join(', ')}${more > 0 ? ` and ${more} more` : ''}`,
    );
  }
  if (report.skippedDevices > 0) {
    warnings.push(`${report.skippedDevices} device nodes were left out: a user's namespace cannot create them (the instance's /dev has the usual ones)`);
  }
  return warnings;
}

/** The contract's DistroFiles, by uid: ./index.ts turns each owner's SID into the uid. */
export class LinuxDistroFiles {
  constructor(
    private readonly account: (uid: number) => LinuxAccount | undefined,
    /** asked each time, not kept: an admin may provision (or change) a user's range while the service runs */
    private readonly mappingFor: (account: LinuxAccount) => Promise<IdMapping>,
  ) {}

  /** each distribution's users when its /etc/passwd was last read, by base path */
  private readonly users = new Map<string, GuestUser[]>();

  private mapping(uid: number): Promise<IdMapping> {
    const account = this.account(uid);
    if (!account) return Promise.reject(new HvError('not-permitted', `uid ${uid} has no account on this host`));
    return this.mappingFor(account);
  }

  /** `mapping`: the one the caller decided with (an import's guard), so the extractor's cannot differ from it. */
  private async spawnTool(uid: number, argv: string[], root?: string, stdio: 'pipe' | 'ignore' = 'ignore', mapping?: IdMapping) {
    await access(BUSYBOX).catch(() => {
      throw new HvError('missing-tool', `${BUSYBOX} is missing: install the busybox-static package`);
    });
    return spawnInNamespace({
      mapping: mapping ?? (await this.mapping(uid)),
      root,
      cwd: root === undefined ? undefined : '/',
      argv: [BUSYBOX, ...argv],
      stdio: [stdio, 'pipe', 'pipe'],
    });
  }

  /** Runs a busybox applet as the owner and collects what it prints. */
  private async tool(uid: number, argv: string[], root?: string, maxStdout = 1 << 20): Promise<ToolRun> {
    const child = await this.spawnTool(uid, argv, root);
    const stderr = collectStderr(child);
    const chunks: Buffer[] = [];
    let size = 0;
    child.stdout!.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxStdout) chunks.push(chunk);
    });
    const code = await completed(child);
    return { code, stdout: Buffer.concat(chunks), stderr: stderr() };
  }

  async ensureOwnedFolder(uid: number, path: string): Promise<void> {
    const account = this.account(uid);
    if (!account) throw new HvError('not-permitted', `uid ${uid} has no account on this host`);
    try {
      await mkdir(path, { recursive: true, mode: 0o700 });
      await chown(path, account.uid, account.gid);
      await chmod(path, 0o700);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EDQUOT') throw new HvError('disk-full', `cannot make ${path}: the disk is full`);
      throw error;
    }
  }

  async create(uid: number, basePath: string): Promise<void> {
    this.users.delete(basePath);
    const parent = await this.tool(uid, ['mkdir', '-p', '--', basePath]);
    if (parent.code !== 0) throw classifyLocationFailure(parent.stderr, `cannot create ${basePath}`);
    const rootfs = await this.tool(uid, ['mkdir', '-m', '0755', '--', join(basePath, ROOTFS)]);
    if (rootfs.code !== 0) {
      if (/File exists/.test(rootfs.stderr)) {
        throw new HvError('exists', `${join(basePath, ROOTFS)} already exists; choose an empty location`);
      }
      throw classifyLocationFailure(rootfs.stderr, `cannot create ${join(basePath, ROOTFS)}`);
    }
  }

  async importArchive(uid: number, basePath: string, archive: Readable, limits: ImportLimits): Promise<ImportResult> {
    const report: GuardReport = { entries: 0, skippedDevices: 0, remappedOwners: 0, remappedExamples: [] };
    const mapping = await this.mapping(uid);
    const counted = { bytes: 0 };
    const child = await this.spawnTool(uid, ['tar', '-x', '-f', '-'], join(basePath, ROOTFS), 'pipe', mapping);
    const stderr = collectStderr(child);
    const exited = exitCode(child);
    let streamError: unknown;
    let tar: Readable | undefined;
    const read = { bytes: 0 };
    const { onProgress } = limits;
    const limiter = byteLimit(
      limits.maxBytes,
      counted,
      onProgress && (() => onProgress({ read: tar === archive ? counted.bytes : read.bytes, written: counted.bytes })),
    );
    try {
      tar = await decompressed(archive);
      if (tar !== archive && limits.onProgress) {
        // A compressed archive is already flowing into its decompressor: counting its chunks changes nothing.
        archive.on('data', (chunk: Buffer) => (read.bytes += chunk.length));
      }
      // Not pipeline(): on failure the archive (often the HTTP request) must stay intact, merely unread,
      // so the caller can still answer on its connection.
      tar.on('error', (error) => limiter.destroy(error));
      tar.pipe(limiter);
      const guarded = guardTar(limiter, report, {
        maxEntries: limits.maxEntries,
        mapsUid: (id) => maps(mapping.uids, id),
        mapsGid: (id) => maps(mapping.gids, id),
      });
      await pipeline(guarded, child.stdin!);
    } catch (error) {
      streamError = error;
      // EPIPE: the extractor stopped reading on its own and is ending with its verdict (a full disk, say), which
      // a kill would replace. Any other failure is on our side, and the extractor must not wait for more.
      if ((error as NodeJS.ErrnoException).code !== 'EPIPE') child.kill('SIGKILL');
      tar?.unpipe(limiter);
      if (tar !== undefined && tar !== archive) tar.destroy();
      archive.pause();
    }
    const code = await exited;
    // The guard's and the limit's verdicts say most; then what the extractor said; then the stream's error.
    if (streamError instanceof HvError && streamError.kind !== 'failed') throw streamError;
    if (code !== 0 && code !== 128 + 9) {
      // Its last words may still be in the pipe when the exit is seen (stdout is never read here, so only stderr).
      await finished(child.stderr!).catch(() => undefined);
      const failure = classifyToolFailure(stderr(), 'extracting the archive failed');
      throw failure.kind === 'failed' ? new HvError('invalid-archive', failure.message) : failure;
    }
    if (streamError !== undefined) {
      throw new HvError('invalid-archive', `the archive could not be read: ${(streamError as Error).message}`);
    }
    return { entries: report.entries, skippedDevices: report.skippedDevices, bytes: counted.bytes, warnings: importWarnings(report, mapping) };
  }

  /**
   * Resolves once the tar has produced its first bytes (so a tar that cannot start is an error before anything
   * is sent); the stream then ends only after the tar exited 0, and is destroyed with an error otherwise: a
   * reader never sees a cut archive end cleanly.
   */
  async exportArchive(uid: number, basePath: string, format: ArchiveFormat): Promise<Readable> {
    const child = await this.spawnTool(uid, ['tar', '-c', '-f', '-', '.'], join(basePath, ROOTFS));
    const stderr = collectStderr(child);
    const tar = new PassThrough();
    child.stdout!.pipe(tar, { end: false });
    // Before the stream is handed over nobody listens for its errors: a failure then is the promise's.
    let handedOver = false;
    const started = new Promise<void>((resolve, reject) => {
      const fail = (error: Error): void => {
        if (handedOver) tar.destroy(error);
        else reject(error);
      };
      child.stdout!.once('data', () => {
        handedOver = true;
        resolve();
      });
      Promise.all([completed(child), finished(child.stderr!).catch(() => undefined)]).then(
        ([code]) => {
          if (code === 0) {
            handedOver = true;
            tar.end();
            resolve();
            return;
          }
          const failure =
            code === NSEXEC_EXIT_HELPER_FAILED && /No such file or directory|Not a directory/.test(stderr())
              ? new HvError('files-missing', `the root filesystem ${join(basePath, ROOTFS)} is missing`)
              : classifyToolFailure(stderr(), `export failed (tar exit ${code})`);
          fail(failure);
        },
        (error: Error) => fail(error),
      );
    });
    tar.on('close', () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    try {
      await started;
    } catch (error) {
      tar.destroy();
      throw error;
    }
    return compressed(tar, format);
  }

  async present(uid: number, basePath: string): Promise<boolean> {
    // Entered as the owner, as every use of it will: a folder the owner cannot enter is as good as gone.
    const entered = await this.tool(uid, ['true'], join(basePath, ROOTFS));
    return entered.code === 0;
  }

  async remove(uid: number, basePath: string): Promise<void> {
    this.users.delete(basePath);
    const removed = await this.tool(uid, ['rm', '-rf', '--', join(basePath, ROOTFS)]);
    if (removed.code !== 0) throw classifyToolFailure(removed.stderr, `cannot remove ${basePath}`);
    // The folder itself goes too when nothing else of the owner's is in it.
    await this.tool(uid, ['rmdir', '--', basePath]);
  }

  async move(uid: number, fromBase: string, toBase: string): Promise<void> {
    this.users.delete(fromBase);
    this.users.delete(toBase);
    await this.create(uid, toBase);
    const target = join(toBase, ROOTFS);
    // mv wants the target absent; `create` made it to claim the location, so it goes before the move.
    await this.tool(uid, ['rmdir', '--', target]);
    const moved = await this.tool(uid, ['mv', '--', join(fromBase, ROOTFS), target]);
    if (moved.code !== 0) {
      await this.tool(uid, ['rmdir', '--', toBase]);
      throw classifyLocationFailure(moved.stderr, `cannot move to ${toBase}`);
    }
    await this.tool(uid, ['rmdir', '--', fromBase]);
  }

  /**
   * The identity (`dev:ino`) of a host folder the owner may read and enter, or undefined when they may not:
   * checked as the owner, so only their own rights count.
   */
  async readableFolder(uid: number, path: string): Promise<string | undefined> {
    // Listing with details needs read and search permission; `test -r` would not do: as (namespace) root it
    // answers yes without asking the kernel.
    const readable = await this.tool(uid, ['ls', '-la', '--', path], undefined, 0);
    if (readable.code !== 0) return undefined;
    const stat = await this.tool(uid, ['stat', '-L', '-c', '%d:%i', '--', path]);
    return stat.code === 0 ? stat.stdout.toString().trim() : undefined;
  }

  /** Writes a file of the distribution as its root would (through its own symlinks, never out of it). */
  async writeFile(uid: number, basePath: string, path: string, content: string): Promise<void> {
    const child = await this.spawnTool(uid, ['tee', '--', path], join(basePath, ROOTFS), 'pipe');
    const stderr = collectStderr(child);
    child.stdout!.resume();
    // A tee that cannot start (the tree is gone, say) closes its stdin unread: its exit code says why, and the
    // EPIPE must not reach the process as an unhandled error.
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(content);
    const code = await completed(child);
    if (code !== 0) throw classifyToolFailure(stderr(), `cannot write ${path}`);
  }

  async readFile(uid: number, basePath: string, path: string): Promise<string | undefined> {
    const read = await this.tool(uid, ['cat', '--', path], join(basePath, ROOTFS));
    return read.code === 0 ? read.stdout.toString('utf8') : undefined;
  }

  /**
   * Served from what /etc/passwd said when last read, read afresh when `user` is not there: users may be added
   * inside the distribution while it runs.
   */
  async findUser(uid: number, basePath: string, user: string | number): Promise<GuestUser | undefined> {
    const cached = this.users.get(basePath);
    const known = cached === undefined ? undefined : findGuestUser(cached, user);
    if (known && (typeof user === 'string' || cached!.some((entry) => entry.uid === user))) return known;
    const users = parsePasswd((await this.readFile(uid, basePath, '/etc/passwd')) ?? '');
    this.users.set(basePath, users);
    return findGuestUser(users, user);
  }

  async sizeOnDisk(uid: number, basePath: string): Promise<number> {
    const du = await this.tool(uid, ['du', '-s', '-k', '.'], join(basePath, ROOTFS));
    const kib = Number(/^(\d+)/.exec(du.stdout.toString())?.[1]);
    return Number.isFinite(kib) ? kib * 1024 : 0;
  }
}
