// Picks the hypervisor backend for this platform: the only place that knows which backends exist.

import type { Hypervisor } from './types.js';
import { createLinuxHypervisor, type LinuxHypervisorOptions } from './linux/index.js';

export type {
  Account,
  ArchiveFormat,
  DistroFiles,
  ExitStatus,
  HvInstance,
  HvProcess,
  HvVm,
  Hypervisor,
  HypervisorInfo,
  ImportLimits,
  ImportResult,
  InstanceSpec,
  LaunchSpec,
  PeerCredentials,
  SharedFolder,
  StopReason,
  VmLimits,
  VmResources,
} from './types.js';
export { HvError, type HvErrorKind } from './errors.js';

/** Each backend's own settings, from the service's config. */
export interface HypervisorOptions {
  readonly linux?: LinuxHypervisorOptions;
}

export function createHypervisor(options: HypervisorOptions = {}): Hypervisor {
  if (process.platform !== 'linux') {
    throw new Error(`lxssd has no hypervisor backend for ${process.platform} yet`);
  }
  return createLinuxHypervisor(options.linux);
}
