// The Linux backend: namespaces on this host. Distribution work lands here in later issues.

import { HvError } from '../errors.js';
import type { Hypervisor } from '../types.js';
import { lookupAccount } from './accounts.js';
import { LinuxDistroFiles } from './distro-files.js';
import { peerCredentials } from './peer-credentials.js';

export function createLinuxHypervisor(): Hypervisor {
  return {
    info: { platform: 'linux', backend: 'linux-namespaces' },
    localPeer: peerCredentials,
    account: lookupAccount,
    files: new LinuxDistroFiles(lookupAccount),
    startVm: () => Promise.reject(new HvError('failed', 'instances are not available yet')),
  };
}
