// The stub backend: the whole hv contract (src/hv/types.ts) held in memory, as containerd ships a template
// runtime. It is the starting point for a backend author — each file shows what one part of the contract asks
// for, with nothing of an OS in the way — and a second implementation the contract suite (test/contract) runs
// against beside the real ones. It imports nothing platform-specific and runs anywhere Node does.
//
// What it is not: distributions' files are a tree in memory (./tree.ts, ./files.ts), processes are a few
// programs written in TypeScript (./guest.ts lists them), a VM confines nothing. Its `localPeer` cannot tell
// who is calling, so a service on it only accepts token callers.

import { HvError } from '../errors.js';
import type { Account, Hypervisor } from '../types.js';
import { StubDistroFiles } from './files.js';
import { PidCounter, StubVm } from './vm.js';

export interface StubHypervisorOptions {
  /** the host's accounts as the stub tells them; default one, `stub` with uid and gid 1000 */
  readonly accounts?: readonly Account[];
}

/** A stand-in for the most descriptors a process may hold: the stub holds none of its own. */
const DESCRIPTOR_LIMIT = 1024;

export function createStubHypervisor(options: StubHypervisorOptions = {}): Hypervisor {
  const accounts = options.accounts ?? [{ uid: 1000, gid: 1000, name: 'stub', home: '/home/stub' }];
  const account = (uid: number) => accounts.find((candidate) => candidate.uid === uid);
  const files = new StubDistroFiles();
  const pids = new PidCounter();
  const claimed = new Set<string>();
  return {
    info: { platform: process.platform, backend: 'stub' },
    files,
    async startVm(uid, limits) {
      if (!account(uid)) throw new HvError('not-permitted', `uid ${uid} has no account on this host`);
      return new StubVm(uid, limits, files, pids);
    },
    async vmWarnings() {
      return [];
    },
    localPeer() {
      throw new HvError('failed', 'the stub backend cannot tell who is on the other end of a local socket');
    },
    account,
    claimStateDir(path) {
      if (claimed.has(path)) throw new HvError('in-use', `another service holds ${path}`);
      claimed.add(path);
      return { release: () => claimed.delete(path) };
    },
    descriptorLimit: () => DESCRIPTOR_LIMIT,
    openDescriptors: () => 0,
  };
}
