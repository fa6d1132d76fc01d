// The hv contract suite against the Linux backend, for real: namespaces, the busybox rootfs, a real user.
// Needs root on Linux with busybox-static and the native helpers built (npm run build); skips saying so elsewhere.

import { existsSync } from 'node:fs';
import { createHypervisor } from '../../src/hv/index.js';
import { busyboxRootfsTar } from '../helpers/rootfs.js';
import { ensureUser, isRoot } from '../helpers/users.js';
import { hypervisorContract } from './suite.js';
import type { ContractTarget } from './target.js';

/** This host's backend, acting for the test user alice, with the busybox rootfs. */
async function contractTarget(): Promise<ContractTarget | { skip: string }> {
  if (process.platform !== 'linux') return { skip: 'the Linux backend runs on Linux only' };
  if (!isRoot) return { skip: 'needs root: creates a test user and user, mount and PID namespaces' };
  if (!existsSync('/bin/busybox')) return { skip: '/bin/busybox is missing: install the Debian package busybox-static' };
  const alice = await ensureUser('alice');
  return {
    hv: await createHypervisor(),
    // The Linux backend's SID for a Unix user (Samba's authority for them), written out: the suite sees no backend's code.
    owner: `S-1-22-1-${alice.uid}`,
    ownerAccount: { name: 'alice', administrator: false },
    rootfsTar: await busyboxRootfsTar(),
  };
}

hypervisorContract('linux', contractTarget);
