// State files that a crash can never tear: written whole (temp file, fsync, rename, fsync of the folder) so
// readers see the old content or the new, and read back with a check of what they hold. A state file is
// never followed through a symlink, and a damaged one is reported by name and fault, never half-trusted.

import { constants } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { LxssError } from './errors.js';

/** A state file that exists but cannot be used: `detail` names the file and what is wrong with it. */
export class StateFileError extends LxssError {
  constructor(
    readonly path: string,
    readonly fault: string,
  ) {
    super('LXSSD_E_STATE_FILE_DAMAGED', `${path} ${fault}; repair or remove it (the service keeps serving everything else)`);
  }
}

function isDiskFull(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * Replaces `path` with `data` atomically and durably; the file gets `mode` (from the first write on). On any
 * failure the old file is untouched and the temp file is gone; a full disk is ERROR_DISK_FULL naming the file.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  try {
    await writeWhole(path, data, mode);
  } catch (error) {
    if (isDiskFull(error)) throw new LxssError('ERROR_DISK_FULL', `cannot write ${path}: the disk is full; nothing was changed`);
    throw error;
  }
}

async function writeWhole(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.chmod(mode);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw error;
  }
  try {
    await handle.close();
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  const folder = await open(dir, 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}

/** The most a state file may hold; more is damage (or not ours), not state. */
const MAX_STATE_FILE_BYTES = 64 * 1024 * 1024;

function describeErrno(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ELOOP') return 'is a symbolic link, which a state file must never be (refused, not followed)';
  if (code === 'EISDIR') return 'is a directory, not a file';
  if (code === 'EACCES' || code === 'EPERM') return 'cannot be read (permission denied)';
  return `cannot be read (${code ?? (error as Error).message})`;
}

/**
 * Reads a versioned JSON state file written by writeFileAtomic: undefined when there is none yet. Anything
 * else that is not what `check` accepts is a StateFileError naming the file and the fault: a symlink (never
 * followed), a directory or other non-file, an empty, truncated or binary file, a wrong version. `check`
 * returns undefined when the content is right, or what is wrong with it.
 */
export async function readStateFile<T>(path: string, what: string, check: (value: unknown) => string | undefined): Promise<T | undefined> {
  let text: string;
  try {
    const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const stat = await handle.stat();
      if (stat.isDirectory()) throw new StateFileError(path, 'is a directory, not a file');
      if (!stat.isFile()) throw new StateFileError(path, 'is not a regular file');
      if (stat.size > MAX_STATE_FILE_BYTES) throw new StateFileError(path, `is ${stat.size} bytes, more than a state file can be`);
      const bytes = await handle.readFile();
      if (bytes.length === 0) throw new StateFileError(path, `is empty (${what} was expected)`);
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        throw new StateFileError(path, `is not text (binary content; ${what} was expected)`);
      }
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof StateFileError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StateFileError(path, describeErrno(error));
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new StateFileError(path, `is not valid JSON, truncated or damaged (${(error as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new StateFileError(path, `holds no JSON object (${what} was expected)`);
  }
  const version = (parsed as { version?: unknown }).version;
  if (version !== 1) {
    throw new StateFileError(path, `has version ${JSON.stringify(version ?? null)}, but this lxssd reads ${what} of version 1 only`);
  }
  const fault = check(parsed);
  if (fault !== undefined) throw new StateFileError(path, `is not ${what}: ${fault}`);
  return parsed as T;
}
