// How the hypervisor layer reports failures core must tell apart; core maps each kind to its own codes.

export type HvErrorKind =
  /** the archive is not a tar we accept (unsafe entry, corrupt, not a tar) */
  | 'invalid-archive'
  /** over the configured size limit */
  | 'too-large'
  /** the disk (or quota) is full */
  | 'disk-full'
  /** a distribution's root filesystem is not where its record says (removed behind the service's back) */
  | 'files-missing'
  /** the target already exists */
  | 'exists'
  /** the host path cannot hold a folder (a pseudo filesystem, a missing parent that cannot be made) */
  | 'bad-path'
  /** another service holds it */
  | 'in-use'
  /** what the host gives the user clashes with what another account owns (e.g. overlapping ranges of ids) */
  | 'conflict'
  /** the owner may not use that host path */
  | 'not-permitted'
  /** a tool the backend needs is missing from the host */
  | 'missing-tool'
  /** a process was to run as a user the distribution does not have */
  | 'user-not-found'
  /** the host ran out of what a launch needs (descriptors, memory, processes); trying later may work */
  | 'out-of-resources'
  /** a process could not be started (program missing, not executable, ...); `exitCode` as a shell would say */
  | 'launch-failed'
  /** the process had already exited (e.g. a signal that arrived after its end) */
  | 'exited'
  /** this backend cannot do that on its platform (the contract lets a backend decline some verbs) */
  | 'not-supported'
  | 'failed';

export class HvError extends Error {
  override name = 'HvError';
  constructor(
    readonly kind: HvErrorKind,
    message: string,
    /** for launch failures: 127 not found, 126 not executable, 67 no such user */
    readonly exitCode?: number,
  ) {
    super(message);
  }
}
