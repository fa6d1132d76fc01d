// The hv contract suite against the stub backend (src/hv/stub), in memory: runs on any platform.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHypervisor } from '../../src/hv/index.js';
import { STUB_OWNER } from '../../src/hv/stub/index.js';
import { stubRootfsTar } from './stub-rootfs.js';
import { hypervisorContract } from './suite.js';
import type { ContractTarget } from './target.js';

/** The stub, acting for its default account, with a rootfs that names the guest's programs. */
async function contractTarget(): Promise<ContractTarget> {
  const dir = await mkdtemp(join(tmpdir(), 'lxssd-stub-rootfs-'));
  return {
    hv: await createHypervisor({ backend: 'stub' }),
    owner: STUB_OWNER,
    ownerAccount: { name: 'stub', administrator: false },
    rootfsTar: await stubRootfsTar(dir),
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

hypervisorContract('stub', contractTarget);
