// The Linux backend's own settings (from the service's config), apart from its code so that naming them loads
// nothing Linux-specific.

export interface LinuxHypervisorOptions {
  /** where subuid, subgid and login.defs are read (default /etc; tests point it at copies) */
  readonly idFilesDir?: string;
  /** give users without a subordinate range one (edits subuid/subgid under shadow's locks); default false */
  readonly allocateSubordinateIds?: boolean;
}
