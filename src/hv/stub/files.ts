// The stub's DistroFiles: one in-memory Tree per base path, owned by the uid that created it. Nothing is
// written to the host; a base path is only a name here, and only its owner may use it.

import type { Readable } from 'node:stream';
import { HvError } from '../errors.js';
import type { ArchiveFormat, DistroFiles, ImportLimits, ImportResult } from '../types.js';
import { exportOf, importInto } from './archive.js';
import { Tree } from './tree.js';

interface Rootfs {
  readonly owner: number;
  readonly tree: Tree;
}

export class StubDistroFiles implements DistroFiles {
  private readonly roots = new Map<string, Rootfs>();
  private readonly ownedFolders = new Map<string, number>();

  /** The tree at `basePath` for `uid`: `files-missing` when there is none, `not-permitted` when another's. */
  tree(uid: number, basePath: string): Tree {
    const rootfs = this.roots.get(basePath);
    if (!rootfs) throw new HvError('files-missing', `the root filesystem of ${basePath} is missing`);
    if (rootfs.owner !== uid) throw new HvError('not-permitted', `${basePath} belongs to another user`);
    return rootfs.tree;
  }

  async ensureOwnedFolder(uid: number, path: string): Promise<void> {
    const owner = this.ownedFolders.get(path);
    if (owner !== undefined && owner !== uid) throw new HvError('not-permitted', `${path} belongs to another user`);
    this.ownedFolders.set(path, uid);
  }

  async create(uid: number, basePath: string): Promise<void> {
    if (this.roots.has(basePath)) throw new HvError('exists', `${basePath} already holds a root filesystem; choose an empty location`);
    this.roots.set(basePath, { owner: uid, tree: new Tree({ mode: 0o755, uid: 0, gid: 0, mtime: new Date() }) });
  }

  async importArchive(uid: number, basePath: string, archive: Readable, limits: ImportLimits): Promise<ImportResult> {
    return importInto(this.tree(uid, basePath), archive, limits);
  }

  async exportArchive(uid: number, basePath: string, format: ArchiveFormat): Promise<Readable> {
    return exportOf(this.tree(uid, basePath), format);
  }

  async present(uid: number, basePath: string): Promise<boolean> {
    return this.roots.get(basePath)?.owner === uid;
  }

  async remove(uid: number, basePath: string): Promise<void> {
    if (!this.roots.has(basePath)) return;
    this.tree(uid, basePath);
    this.roots.delete(basePath);
  }

  async move(uid: number, fromBase: string, toBase: string): Promise<void> {
    const tree = this.tree(uid, fromBase);
    if (this.roots.has(toBase)) throw new HvError('exists', `${toBase} already holds a root filesystem; choose an empty location`);
    this.roots.set(toBase, { owner: uid, tree });
    this.roots.delete(fromBase);
  }

  async readFile(uid: number, basePath: string, path: string): Promise<string | undefined> {
    const rootfs = this.roots.get(basePath);
    if (rootfs?.owner !== uid) return undefined;
    const key = rootfs.tree.resolve(path);
    const node = key === undefined ? undefined : rootfs.tree.get(key);
    return node?.kind === 'file' ? node.data.toString('utf8') : undefined;
  }

  async sizeOnDisk(uid: number, basePath: string): Promise<number> {
    const rootfs = this.roots.get(basePath);
    return rootfs?.owner === uid ? rootfs.tree.blocksInBytes() : 0;
  }
}
