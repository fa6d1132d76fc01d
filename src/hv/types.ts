// The hypervisor layer's contract: what core may ask of the OS. Named by role, free of Linux words, so a
// Windows backend can implement it; knows nothing of HTTP.

import type { Socket } from 'node:net';

/** A local account as the host knows it. */
export interface Account {
  readonly uid: number;
  readonly gid: number;
  readonly name: string;
  readonly home: string;
}

/** Who is on the other end of a local-socket connection, as proven by the kernel. */
export interface PeerCredentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

export interface HypervisorInfo {
  /** e.g. `linux` */
  readonly platform: string;
  /** what runs distributions, e.g. `linux-namespaces` */
  readonly backend: string;
}

export interface Hypervisor {
  readonly info: HypervisorInfo;
  /** The caller of a connection accepted on the local socket; throws when the OS cannot tell. */
  localPeer(socket: Socket): PeerCredentials;
  /** The account of `uid`, or undefined when the host has none. */
  account(uid: number): Account | undefined;
}
