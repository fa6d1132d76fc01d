// The Linux backend: namespaces on this host. Owners arrive as SIDs and are uids from here on (./owners.ts).

import { HvError } from '../errors.js';
import type { DistroFiles, Hypervisor } from '../types.js';
import { lookupAccount } from './accounts.js';
import { CgroupHost } from './cgroup.js';
import { LinuxDistroFiles } from './distro-files.js';
import { IdMaps } from './id-maps.js';
import { descriptorLimit, openDescriptors } from './descriptor-limit.js';
import { ownerUid, sidForUid, uidForSid } from './owners.js';
import { peerCredentials } from './peer-credentials.js';
import { claimStateDir } from './state-dir-lock.js';
import { LinuxVm } from './vm.js';
import type { LinuxHypervisorOptions } from './options.js';

export type { LinuxHypervisorOptions };

/** The contract's files, each call made as the uid its owner's SID stands for. */
function filesByOwner(files: LinuxDistroFiles): DistroFiles {
  return {
    ensureOwnedFolder: async (owner, path) => files.ensureOwnedFolder(ownerUid(owner), path),
    create: async (owner, basePath) => files.create(ownerUid(owner), basePath),
    importArchive: async (owner, basePath, archive, limits) => files.importArchive(ownerUid(owner), basePath, archive, limits),
    exportArchive: async (owner, basePath, format) => files.exportArchive(ownerUid(owner), basePath, format),
    present: async (owner, basePath) => files.present(ownerUid(owner), basePath),
    remove: async (owner, basePath) => files.remove(ownerUid(owner), basePath),
    move: async (owner, fromBase, toBase) => files.move(ownerUid(owner), fromBase, toBase),
    readFile: async (owner, basePath, path) => files.readFile(ownerUid(owner), basePath, path),
    sizeOnDisk: async (owner, basePath) => files.sizeOnDisk(ownerUid(owner), basePath),
    findUser: async (owner, basePath, user) => files.findUser(ownerUid(owner), basePath, user),
  };
}

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
    localPeer(socket) {
      const peer = peerCredentials(socket);
      return { sid: sidForUid(peer.uid), pid: peer.pid };
    },
    account(sid) {
      const uid = uidForSid(sid);
      const account = uid === undefined ? undefined : lookupAccount(uid);
      return account && { name: account.name, home: account.home, uid: account.uid };
    },
    isAdministrator: (sid) => uidForSid(sid) === 0,
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
    files: filesByOwner(files),
    async startVm(owner, limits) {
      const uid = ownerUid(owner);
      const plan = await idMaps.planFor(accountOf(uid));
      cgroups ??= new CgroupHost('(no state folder)');
      const vm = await LinuxVm.start(uid, plan.mapping, files, await cgroups.create(`u${uid}`, limits));
      vm.warnings = plan.warnings;
      return vm;
    },
    async vmWarnings(owner) {
      const uid = uidForSid(owner);
      const account = uid === undefined ? undefined : lookupAccount(uid);
      return account ? idMaps.warningsFor(account) : [];
    },
  };
}
