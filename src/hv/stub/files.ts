// The stub's DistroFiles: one in-memory Tree per base path, owned by the owner that created it. Nothing is
// written to the host; a base path is only a name here, and only its owner may use it.

import type { Readable } from 'node:stream';
import { HvError } from '../errors.js';
import { findGuestUser, parsePasswd } from '../guest-users.js';
import type { ArchiveFormat, DistroFiles, GuestUser, ImportLimits, ImportResult, OwnerSid } from '../types.js';
import { exportOf, importInto } from './archive.js';
import { Tree } from './tree.js';

interface Rootfs {
  readonly owner: OwnerSid;
  readonly tree: Tree;
}

export class StubDistroFiles implements DistroFiles {
  private readonly roots = new Map<string, Rootfs>();
  private readonly ownedFolders = new Map<string, OwnerSid>();

  /** The tree at `basePath` for `owner`: `files-missing` when there is none, `not-permitted` when another's. */
  tree(owner: OwnerSid, basePath: string): Tree {
    const rootfs = this.roots.get(basePath);
    if (!rootfs) throw new HvError('files-missing', `the root filesystem of ${basePath} is missing`);
    if (rootfs.owner !== owner) throw new HvError('not-permitted', `${basePath} belongs to another user`);
    return rootfs.tree;
  }

  async ensureOwnedFolder(owner: OwnerSid, path: string): Promise<void> {
    const holder = this.ownedFolders.get(path);
    if (holder !== undefined && holder !== owner) throw new HvError('not-permitted', `${path} belongs to another user`);
    this.ownedFolders.set(path, owner);
  }

  async create(owner: OwnerSid, basePath: string): Promise<void> {
    if (this.roots.has(basePath)) throw new HvError('exists', `${basePath} already holds a root filesystem; choose an empty location`);
    this.roots.set(basePath, { owner, tree: new Tree({ mode: 0o755, uid: 0, gid: 0, mtime: new Date() }) });
  }

  async importArchive(owner: OwnerSid, basePath: string, archive: Readable, limits: ImportLimits): Promise<ImportResult> {
    return importInto(this.tree(owner, basePath), archive, limits);
  }

  async exportArchive(owner: OwnerSid, basePath: string, format: ArchiveFormat): Promise<Readable> {
    return exportOf(this.tree(owner, basePath), format);
  }

  async present(owner: OwnerSid, basePath: string): Promise<boolean> {
    return this.roots.get(basePath)?.owner === owner;
  }

  async remove(owner: OwnerSid, basePath: string): Promise<void> {
    if (!this.roots.has(basePath)) return;
    this.tree(owner, basePath);
    this.roots.delete(basePath);
  }

  async move(owner: OwnerSid, fromBase: string, toBase: string): Promise<void> {
    const tree = this.tree(owner, fromBase);
    if (this.roots.has(toBase)) throw new HvError('exists', `${toBase} already holds a root filesystem; choose an empty location`);
    this.roots.set(toBase, { owner, tree });
    this.roots.delete(fromBase);
  }

  async readFile(owner: OwnerSid, basePath: string, path: string): Promise<string | undefined> {
    const rootfs = this.roots.get(basePath);
    if (rootfs?.owner !== owner) return undefined;
    const key = rootfs.tree.resolve(path);
    const node = key === undefined ? undefined : rootfs.tree.get(key);
    return node?.kind === 'file' ? node.data.toString('utf8') : undefined;
  }

  async sizeOnDisk(owner: OwnerSid, basePath: string): Promise<number> {
    const rootfs = this.roots.get(basePath);
    return rootfs?.owner === owner ? rootfs.tree.blocksInBytes() : 0;
  }

  async findUser(owner: OwnerSid, basePath: string, user: string | number): Promise<GuestUser | undefined> {
    return findGuestUser(parsePasswd((await this.readFile(owner, basePath, '/etc/passwd')) ?? ''), user);
  }
}
