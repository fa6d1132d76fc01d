// The Linux backend: namespaces on this host. Distribution work lands here in later issues.

import { HvError } from '../errors.js';
import type { Hypervisor } from '../types.js';
import { lookupAccount } from './accounts.js';
import { CgroupHost } from './cgroup.js';
import { LinuxDistroFiles } from './distro-files.js';
import { IdMaps } from './id-maps.js';
import { descriptorLimit, openDescriptors } from './descriptor-limit.js';
import { peerCredentials } from './peer-credentials.js';
import { claimStateDir } from './state-dir-lock.js';
import { LinuxVm } from './vm.js';
import type { LinuxHypervisorOptions } from './options.js';

export type { LinuxHypervisorOptions };

export function createLinuxHypervisor(options: LinuxHypervisorOptions = {}): Hypervisor {
  const idMaps = new IdMaps({ dir: options.idFilesDir, allocate: options.allocateSubordinateIds });
  const files = new LinuxDistroFiles(lookupAccount, (account) => idMaps.planFor(account).then((plan) => plan.mapping));
  const accountOf = (uid: number) => {
    const account = lookupAccount(uid);
    if (!account) throw new HvError('not-permitted', `uid ${uid} has no account on this host`);
    return account;
  };
  // The VMs' cgroups belong to the service of one state folder: claiming it also claims (and cleans) them.
  let cgroups: CgroupHost | undefined;
  return {
    info: { platform: 'linux', backend: 'linux-namespaces' },
    localPeer: peerCredentials,
    account: lookupAccount,
    claimStateDir(path) {
      const claim = claimStateDir(path);
      const host = new CgroupHost(path);
      host.cleanStale();
      cgroups = host;
      return {
        release() {
          host.release();
          claim.release();
        },
      };
    },
    descriptorLimit,
    openDescriptors,
    files,
    async startVm(uid, limits) {
      const plan = await idMaps.planFor(accountOf(uid));
      cgroups ??= new CgroupHost('(no state folder)');
      const vm = await LinuxVm.start(uid, plan.mapping, files, await cgroups.create(`u${uid}`, limits));
      vm.warnings = plan.warnings;
      return vm;
    },
    async vmWarnings(uid) {
      const account = lookupAccount(uid);
      return account ? idMaps.warningsFor(account) : [];
    },
  };
}
