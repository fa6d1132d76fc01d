// The Linux backend: namespaces on this host. Distribution work lands here in later issues.

import { HvError } from '../errors.js';
import type { Hypervisor } from '../types.js';
import { lookupAccount } from './accounts.js';
import { LinuxDistroFiles } from './distro-files.js';
import { mappingFor } from './id-maps.js';
import { peerCredentials } from './peer-credentials.js';
import { claimStateDir } from './state-dir-lock.js';
import { LinuxVm } from './vm.js';

export function createLinuxHypervisor(): Hypervisor {
  const files = new LinuxDistroFiles(lookupAccount);
  return {
    info: { platform: 'linux', backend: 'linux-namespaces' },
    localPeer: peerCredentials,
    account: lookupAccount,
    claimStateDir,
    files,
    async startVm(uid) {
      const account = lookupAccount(uid);
      if (!account) throw new HvError('not-permitted', `uid ${uid} has no account on this host`);
      return LinuxVm.start(uid, await mappingFor(account), files);
    },
  };
}
