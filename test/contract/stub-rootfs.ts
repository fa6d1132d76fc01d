// A root filesystem for the stub backend, built on any platform: the busybox rootfs's layout with a
// placeholder where the binary would be (the stub's guest runs the programs; it only needs their names).

import { join } from 'node:path';
import { craftedTar, type CraftedEntry } from '../helpers/rootfs.js';

const PROGRAMS = ['true', 'false', 'echo', 'cat', 'ls', 'sleep', 'env', 'pwd', 'hostname', 'stty', 'sh'];

/** Writes the tar into `dir` and returns its path. */
export async function stubRootfsTar(dir: string): Promise<string> {
  const file = join(dir, 'rootfs.tar');
  const entries: CraftedEntry[] = [
    ...['bin/', 'etc/', 'home/', 'mnt/', 'root/', 'tmp/'].map((name): CraftedEntry => ({ type: 'dir', name })),
    { type: 'file', name: 'bin/busybox', content: 'a stand-in: the stub guest runs its programs by name\n', mode: 0o755 },
    ...PROGRAMS.map((name): CraftedEntry => ({ type: 'symlink', name: `bin/${name}`, target: 'busybox' })),
    { type: 'file', name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:alice:/home/alice:/bin/sh\n' },
    { type: 'file', name: 'etc/group', content: 'root:x:0:\nalice:x:1000:\n' },
    { type: 'file', name: 'etc/hostname', content: 'lxssd-stub\n' },
    { type: 'file', name: 'etc/os-release', content: 'NAME="lxssd test stub"\nID=stub\nVERSION_ID=1\n' },
  ];
  await craftedTar(file, entries);
  return file;
}
