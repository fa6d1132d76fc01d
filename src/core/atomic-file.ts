// State files that a crash can never tear: written whole (temp file, fsync, rename, fsync of the folder) so
// readers see the old content or the new, and read back with a check of their version.

import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** Replaces `path` with `data` atomically and durably; the file gets `mode` (from the first write on). */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.chmod(mode);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
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

/**
 * Reads a versioned JSON state file written by writeFileAtomic: undefined when there is none yet; an error
 * naming the file when it is not what `isValid` expects.
 */
export async function readStateFile<T>(path: string, what: string, isValid: (value: T) => boolean): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const parsed = JSON.parse(text) as T;
  if (!isValid(parsed)) throw new Error(`${path}: not ${what}`);
  return parsed;
}
