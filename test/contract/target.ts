// What the contract suite runs against: one backend, the owner it acts for, and a root filesystem whose
// programs the suite uses. Each backend's test file builds one in its own `contractTarget()`.

import type { Hypervisor, OwnerSid } from '../../src/hv/index.js';

export interface ContractTarget {
  readonly hv: Hypervisor;
  /** who every call is made for */
  readonly owner: OwnerSid;
  /** what the backend must tell of the owner's host account */
  readonly ownerAccount: { readonly name: string; readonly administrator: boolean };
  /**
   * A tar of a root filesystem with /etc/os-release, /etc/passwd (root, and alice as uid 1000 with home
   * /home/alice) and, on PATH /bin, the programs true, false, echo, cat, ls, sleep, env, pwd, hostname, stty and sh.
   */
  readonly rootfsTar: string;
  /** undoes what making the target made (run after the suite) */
  readonly close?: () => Promise<void>;
}

/** A target, or why this machine cannot run it (the tests then skip with that reason). */
export type ContractTargetFactory = () => Promise<ContractTarget | { skip: string }>;
