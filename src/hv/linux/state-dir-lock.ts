// The service's exclusive claim on its state folder: an flock(2) on `<stateDir>/lxssd.lock`. The kernel drops it
// when the process dies however it dies, so a restart after a SIGKILL claims it again at once; a second
// service on the same folder is refused (it would recover "half-imported" distributions the first is importing).

import { closeSync, constants, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { HvError } from '../errors.js';
import { errnoName, EWOULDBLOCK, flock, lastErrno, LOCK_EX, LOCK_NB } from './libc.js';

export const LOCK_FILE = 'lxssd.lock';

export function claimStateDir(stateDir: string): { release(): void } {
  const path = join(stateDir, LOCK_FILE);
  // libuv opens every file close-on-exec, so no process the service starts inherits the claim.
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
  if (flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    const errno = lastErrno();
    closeSync(fd);
    if (errno !== EWOULDBLOCK) throw new HvError('failed', `cannot lock ${path}: ${errnoName(errno)}`);
    const holder = readFileSync(path, 'utf8').trim();
    throw new HvError('in-use', `another lxssd${holder ? ` (pid ${holder})` : ''} is using the state directory ${stateDir}`);
  }
  // The holder's pid, for the message a second service prints.
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`, 0);
  return { release: () => closeSync(fd) };
}
