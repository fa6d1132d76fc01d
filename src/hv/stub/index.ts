// The stub backend: the whole hv contract (src/hv/types.ts) held in memory, as containerd ships a template
// runtime. It is the starting point for a backend author — each file shows what one part of the contract asks
// for, with nothing of an OS in the way — and a second implementation the contract suite (test/contract) runs
// against beside the real ones. It imports nothing platform-specific and runs anywhere Node does.
//
// What it is not: distributions' files are a tree in memory (./tree.ts, ./files.ts), processes are a few
// programs written in TypeScript (./guest.ts lists them), a VM confines nothing. Its owners are SIDs it only
// compares, as core does. Its `localPeer` cannot tell who is calling, so a service on it only accepts token
// callers. It registers distributions itself (./registrations.ts), as a platform with its own registry does.

import { HvError } from '../errors.js';
import type { Account, Hypervisor, OwnerSid } from '../types.js';
import { StubDistroFiles } from './files.js';
import { StubRegistrations } from './registrations.js';
import { StubVm } from './vm.js';

/** A host account as the stub tells it, under the SID it is known by. */
export interface StubAccount extends Account {
  readonly sid: OwnerSid;
  /** administers the service (default: no) */
  readonly administrator?: boolean;
}

export interface StubHypervisorOptions {
  /** the host's accounts as the stub tells them; default one, `stub`, with no POSIX uid (see STUB_OWNER) */
  readonly accounts?: readonly StubAccount[];
}

/** The SID of the stub's default account. */
export const STUB_OWNER: OwnerSid = 'S-1-5-21-1000';

/** A stand-in for the most descriptors a process may hold: the stub holds none of its own. */
const DESCRIPTOR_LIMIT = 1024;

export function createStubHypervisor(options: StubHypervisorOptions = {}): Hypervisor {
  const accounts = options.accounts ?? [{ sid: STUB_OWNER, name: 'stub', home: '/home/stub', uid: null }];
  const accountOf = (sid: OwnerSid) => accounts.find((candidate) => candidate.sid === sid);
  const known = (owner: OwnerSid): void => {
    if (!accountOf(owner)) throw new HvError('not-permitted', `${owner} has no account on this host`);
  };
  const files = new StubDistroFiles();
  const registrations = new StubRegistrations();
  const claimed = new Set<string>();
  return {
    info: { platform: process.platform, backend: 'stub' },
    files,
    async registrations(owner) {
      known(owner);
      return registrations.of(owner);
    },
    async startVm(owner, limits) {
      known(owner);
      return new StubVm(owner, limits, files);
    },
    async vmWarnings() {
      return [];
    },
    localPeer() {
      throw new HvError('not-supported', 'the stub backend cannot tell who is on the other end of a local socket');
    },
    account(sid) {
      const account = accountOf(sid);
      return account && { name: account.name, home: account.home, uid: account.uid };
    },
    isAdministrator: (sid) => accountOf(sid)?.administrator === true,
    claimStateDir(path) {
      if (claimed.has(path)) throw new HvError('in-use', `another service holds ${path}`);
      claimed.add(path);
      return { release: () => claimed.delete(path) };
    },
    descriptorLimit: () => DESCRIPTOR_LIMIT,
    openDescriptors: () => 0,
  };
}
