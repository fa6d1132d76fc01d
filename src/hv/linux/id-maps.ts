// The id mapping of a user's namespace: the user's uid (and primary gid) become 0 inside, and its
// subordinate range from /etc/subuid and /etc/subgid becomes 1..N, so inner id k is outer base+k. Root's
// sessions map identity. A user without a range gets one (the service is root, so it may add it).

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { HvError } from '../errors.js';
import type { Account } from '../types.js';
import { identityMapping, type IdMapping } from './nsexec.js';

const run = promisify(execFile);

/** Inner ids 0..RANGE_SIZE-1; base+0 of a subordinate range is left unused so inner k ↔ outer base+k. */
const RANGE_SIZE = 65536;
const FIRST_BASE = 100000;

interface SubordinateRange {
  base: number;
  count: number;
}

async function readRanges(path: string): Promise<Array<{ owner: string } & SubordinateRange>> {
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return text
    .split('\n')
    .map((line) => line.trim().split(':'))
    .filter((fields) => fields.length === 3 && /^\d+$/.test(fields[1]!) && /^\d+$/.test(fields[2]!))
    .map(([owner, base, count]) => ({ owner: owner!, base: Number(base), count: Number(count) }));
}

function rangeOf(ranges: Array<{ owner: string } & SubordinateRange>, account: Account): SubordinateRange | undefined {
  return ranges.find(
    (range) => (range.owner === account.name || range.owner === String(account.uid)) && range.count >= RANGE_SIZE,
  );
}

let allocating: Promise<unknown> = Promise.resolve();

/** Adds a free range of RANGE_SIZE ids to /etc/subuid and /etc/subgid for the account (serialised). */
async function allocateRange(account: Account): Promise<void> {
  const [uids, gids] = await Promise.all([readRanges('/etc/subuid'), readRanges('/etc/subgid')]);
  if (rangeOf(uids, account) && rangeOf(gids, account)) return;
  const end = Math.max(FIRST_BASE, ...[...uids, ...gids].map((range) => range.base + range.count));
  const span = `${end}-${end + RANGE_SIZE - 1}`;
  try {
    await run('usermod', ['--add-subuids', span, '--add-subgids', span, account.name]);
  } catch (error) {
    throw new HvError('failed', `could not give ${account.name} a subordinate id range: ${(error as Error).message}`);
  }
}

/** The mapping for a namespace owned by `account`. */
export async function mappingFor(account: Account): Promise<IdMapping> {
  if (account.uid === 0) return identityMapping();
  let uids = rangeOf(await readRanges('/etc/subuid'), account);
  let gids = rangeOf(await readRanges('/etc/subgid'), account);
  if (!uids || !gids) {
    const step = allocating.then(() => allocateRange(account));
    allocating = step.catch(() => undefined);
    await step;
    uids = rangeOf(await readRanges('/etc/subuid'), account);
    gids = rangeOf(await readRanges('/etc/subgid'), account);
    if (!uids || !gids) throw new HvError('failed', `${account.name} has no subordinate id range of ${RANGE_SIZE} ids`);
  }
  return {
    uids: [
      { inner: 0, outer: account.uid, count: 1 },
      { inner: 1, outer: uids.base + 1, count: RANGE_SIZE - 1 },
    ],
    gids: [
      { inner: 0, outer: account.gid, count: 1 },
      { inner: 1, outer: gids.base + 1, count: RANGE_SIZE - 1 },
    ],
  };
}
