// The hypervisor layer's contract: what core may ask of the OS. Named by role, free of Linux words, so a
// Windows backend can implement it; knows nothing of HTTP.

import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

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

export type ArchiveFormat = 'tar' | 'tar.gz' | 'tar.xz';

export interface ImportResult {
  /** entries extracted */
  readonly entries: number;
  /** device nodes left out (a user's namespace cannot create them) */
  readonly skippedDevices: number;
  /** uncompressed tar bytes read */
  readonly bytes: number;
}

/**
 * A distribution's files under its base path, always handled as their owner (`uid`) would: nothing done here
 * can reach what the owner could not. Failures are HvErrors.
 */
export interface DistroFiles {
  /** A folder of the service's state that `uid` owns (e.g. where its distributions live by default). */
  ensureOwnedFolder(uid: number, path: string): Promise<void>;
  /** Creates `basePath` and an empty root filesystem in it; `exists` if there is one already. */
  create(uid: number, basePath: string): Promise<void>;
  /** Extracts a tar (plain, gzip or xz) into the root filesystem, owners shifted into the owner's range. */
  importArchive(uid: number, basePath: string, archive: Readable, maxBytes: number): Promise<ImportResult>;
  /** A tar of the root filesystem with owners as the distribution sees them. */
  exportArchive(uid: number, basePath: string, format: ArchiveFormat): Promise<Readable>;
  /** Removes the root filesystem, and the base folder when it is then empty. */
  remove(uid: number, basePath: string): Promise<void>;
  move(uid: number, fromBase: string, toBase: string): Promise<void>;
  /** A file of the distribution as its own root sees it; undefined when absent or unreadable. */
  readFile(uid: number, basePath: string, path: string): Promise<string | undefined>;
  sizeOnDisk(uid: number, basePath: string): Promise<number>;
}

export interface Hypervisor {
  readonly info: HypervisorInfo;
  readonly files: DistroFiles;
  /** The caller of a connection accepted on the local socket; throws when the OS cannot tell. */
  localPeer(socket: Socket): PeerCredentials;
  /** The account of `uid`, or undefined when the host has none. */
  account(uid: number): Account | undefined;
}
