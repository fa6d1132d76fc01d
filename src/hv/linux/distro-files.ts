// A distribution's files on the host: `<basePath>/rootfs`. Every operation on them runs inside the owner's
// user namespace (lxssd-nsexec), so it can do no more than the owner could, and the ones that read or write
// the tree run chrooted into it, so no name in the tree can reach outside. The tools are busybox-static's.

import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { access, chmod, chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { finished, pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { HvError } from '../errors.js';
import type { Account, ArchiveFormat, DistroFiles, ImportResult } from '../types.js';
import { byteLimit, compressed, decompressed } from './archive-streams.js';
import { spawnInNamespace, type IdMapping } from './nsexec.js';
import { guardTar } from './tar-guard.js';

const BUSYBOX = '/bin/busybox';
const ROOTFS = 'rootfs';
const STDERR_KEEP = 4000;

interface ToolRun {
  code: number;
  stdout: Buffer;
  stderr: string;
}

function collectStderr(child: ChildProcess): () => string {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < STDERR_KEEP) stderr += chunk.toString();
  });
  return () => stderr.trim();
}

async function exitCode(child: ChildProcess): Promise<number> {
  if (child.exitCode !== null) return child.exitCode;
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  return code ?? 128 + (signal === 'SIGKILL' ? 9 : 15);
}

/** The exit code once all the child printed has been read too ('exit' may come before the last output). */
async function completed(child: ChildProcess): Promise<number> {
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

export class LinuxDistroFiles implements DistroFiles {
  constructor(
    private readonly account: (uid: number) => Account | undefined,
    /** asked each time, not kept: an admin may provision (or change) a user's range while the service runs */
    private readonly mappingFor: (account: Account) => Promise<IdMapping>,
  ) {}

  private mapping(uid: number): Promise<IdMapping> {
    const account = this.account(uid);
    if (!account) return Promise.reject(new HvError('not-permitted', `uid ${uid} has no account on this host`));
    return this.mappingFor(account);
  }

  private async spawnTool(uid: number, argv: string[], root?: string, stdio: 'pipe' | 'ignore' = 'ignore') {
    await access(BUSYBOX).catch(() => {
      throw new HvError('missing-tool', `${BUSYBOX} is missing: install the busybox-static package`);
    });
    return spawnInNamespace({
      mapping: await this.mapping(uid),
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
    await mkdir(path, { recursive: true, mode: 0o700 });
    await chown(path, account.uid, account.gid);
    await chmod(path, 0o700);
  }

  async create(uid: number, basePath: string): Promise<void> {
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

  async importArchive(uid: number, basePath: string, archive: Readable, maxBytes: number): Promise<ImportResult> {
    const report = { entries: 0, skippedDevices: 0 };
    const counted = { bytes: 0 };
    const child = await this.spawnTool(uid, ['tar', '-x', '-f', '-'], join(basePath, ROOTFS), 'pipe');
    const stderr = collectStderr(child);
    const exited = exitCode(child);
    let streamError: unknown;
    let tar: Readable | undefined;
    const limiter = byteLimit(maxBytes, counted);
    try {
      tar = await decompressed(archive);
      // Not pipeline(): on failure the archive (often the HTTP request) must stay intact, merely unread,
      // so the caller can still answer on its connection.
      tar.on('error', (error) => limiter.destroy(error));
      tar.pipe(limiter);
      await pipeline(guardTar(limiter, report), child.stdin!);
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
    return { ...report, bytes: counted.bytes };
  }

  async exportArchive(uid: number, basePath: string, format: ArchiveFormat): Promise<Readable> {
    const child = await this.spawnTool(uid, ['tar', '-c', '-f', '-', '.'], join(basePath, ROOTFS));
    const stderr = collectStderr(child);
    const output = compressed(child.stdout!, format);
    exitCode(child).then((code) => {
      if (code !== 0) output.destroy(classifyToolFailure(stderr(), 'export failed'));
    }, (error: Error) => output.destroy(error));
    output.on('close', () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    return output;
  }

  async remove(uid: number, basePath: string): Promise<void> {
    const removed = await this.tool(uid, ['rm', '-rf', '--', join(basePath, ROOTFS)]);
    if (removed.code !== 0) throw classifyToolFailure(removed.stderr, `cannot remove ${basePath}`);
    // The folder itself goes too when nothing else of the owner's is in it.
    await this.tool(uid, ['rmdir', '--', basePath]);
  }

  async move(uid: number, fromBase: string, toBase: string): Promise<void> {
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
    child.stdin!.end(content);
    const code = await completed(child);
    if (code !== 0) throw classifyToolFailure(stderr(), `cannot write ${path}`);
  }

  async readFile(uid: number, basePath: string, path: string): Promise<string | undefined> {
    const read = await this.tool(uid, ['cat', '--', path], join(basePath, ROOTFS));
    return read.code === 0 ? read.stdout.toString('utf8') : undefined;
  }

  async sizeOnDisk(uid: number, basePath: string): Promise<number> {
    const du = await this.tool(uid, ['du', '-s', '-k', '.'], join(basePath, ROOTFS));
    const kib = Number(/^(\d+)/.exec(du.stdout.toString())?.[1]);
    return Number.isFinite(kib) ? kib * 1024 : 0;
  }
}
