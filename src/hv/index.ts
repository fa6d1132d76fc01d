// Picks the hypervisor backend for this platform: the only place that knows which backends exist. A backend is
// loaded only on its own platform (the Linux one binds libc as it loads), so this module imports on any.

import type { LinuxHypervisorOptions } from './linux/options.js';
import type { Hypervisor } from './types.js';

export type {
  Account,
  ArchiveFormat,
  DistroFiles,
  ExitStatus,
  GuestSetup,
  GuestUser,
  HvInstance,
  HvProcess,
  HvVm,
  Hypervisor,
  HypervisorInfo,
  ImportLimits,
  ImportResult,
  InstanceSpec,
  LaunchSpec,
  OwnerSid,
  PeerCredentials,
  RegistrationRecord,
  RegistrationStore,
  SharedFolder,
  StopReason,
  VmLimits,
  VmResources,
} from './types.js';
export { HvError, type HvErrorKind } from './errors.js';
export { GUEST_SIGNALS, guestSignal, SIGKILL, SIGTERM } from './signals.js';

/** Each backend's own settings, from the service's config. */
export interface HypervisorOptions {
  /** `stub`: the in-memory backend (src/hv/stub), on any platform, instead of this platform's own */
  readonly backend?: 'stub';
  readonly linux?: LinuxHypervisorOptions;
}

export async function createHypervisor(options: HypervisorOptions = {}): Promise<Hypervisor> {
  if (options.backend === 'stub') {
    const { createStubHypervisor } = await import('./stub/index.js');
    return createStubHypervisor();
  }
  if (process.platform !== 'linux') {
    throw new Error(`lxssd has no hypervisor backend for ${process.platform} yet`);
  }
  const { createLinuxHypervisor } = await import('./linux/index.js');
  return createLinuxHypervisor(options.linux);
}
