// A distribution's root filesystem held in memory: folders, files and symlinks keyed by their path from the
// root. Knows nothing of archives or processes; a name can never reach outside it (`..` stops at the root).

export interface TreeNodeBase {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: Date;
}

export type TreeNode =
  | (TreeNodeBase & { readonly kind: 'directory' })
  | (TreeNodeBase & { readonly kind: 'file'; readonly data: Buffer })
  | (TreeNodeBase & { readonly kind: 'symlink'; readonly target: string });

/** How many symlinks one lookup may pass through, as Linux's ELOOP limit. */
const MAX_LINKS = 40;

/** `path` (absolute or from the root) as a key: `/a//./b/../c` → `a/c`; the root is ''. */
export function treeKey(path: string): string {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return parts.join('/');
}

const parentOf = (key: string): string => key.slice(0, Math.max(0, key.lastIndexOf('/')));

export class Tree {
  private readonly nodes = new Map<string, TreeNode>();

  constructor(root: TreeNodeBase) {
    this.nodes.set('', { ...root, kind: 'directory' });
  }

  get(key: string): TreeNode | undefined {
    return this.nodes.get(key);
  }

  /** Puts a node at `key`, making the folders above it like the root. */
  put(key: string, node: TreeNode): void {
    if (key === '') return;
    this.mkdirs(parentOf(key));
    this.nodes.set(key, node);
  }

  mkdirs(key: string): void {
    if (key === '' || this.nodes.get(key)?.kind === 'directory') return;
    this.mkdirs(parentOf(key));
    const root = this.nodes.get('')!;
    this.nodes.set(key, { kind: 'directory', mode: 0o755, uid: root.uid, gid: root.gid, mtime: new Date() });
  }

  /** The names directly in folder `key`, sorted. */
  list(key: string): string[] {
    const prefix = key === '' ? '' : `${key}/`;
    return [...this.nodes.keys()]
      .filter((name) => name !== '' && name.startsWith(prefix) && !name.slice(prefix.length).includes('/'))
      .map((name) => name.slice(prefix.length))
      .sort();
  }

  /** Every node, parents before children. */
  entries(): Array<[string, TreeNode]> {
    return [...this.nodes.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** The key `path` names once its symlinks are followed (the last one too), or undefined when none resolves. */
  resolve(path: string): string | undefined {
    let pending = treeKey(path).split('/').filter(Boolean);
    let resolved: string[] = [];
    let links = 0;
    while (pending.length > 0) {
      const [part, ...rest] = pending as [string, ...string[]];
      const key = [...resolved, part].join('/');
      const node = this.nodes.get(key);
      if (node === undefined) return undefined;
      if (node.kind === 'symlink') {
        if (++links > MAX_LINKS) return undefined;
        const base = node.target.startsWith('/') ? [] : resolved;
        pending = [...treeKey([...base, node.target].join('/')).split('/').filter(Boolean), ...rest];
        resolved = [];
        continue;
      }
      if (rest.length > 0 && node.kind !== 'directory') return undefined;
      resolved.push(part);
      pending = rest;
    }
    return resolved.join('/');
  }

  /** Bytes the tree takes, counted as a filesystem with 4 KiB blocks would (each node at least one block). */
  blocksInBytes(): number {
    let bytes = 0;
    for (const node of this.nodes.values()) {
      const size = node.kind === 'file' ? node.data.length : 0;
      bytes += Math.max(1, Math.ceil(size / 4096)) * 4096;
    }
    return bytes;
  }
}
