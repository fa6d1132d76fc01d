// Node side of the static helper `lxssd-nsexec` (src/hv/linux/nsexec/nsexec.c): runs a program in a new user +
// mount namespace with id maps the service picks, optionally chrooted. The helper is spawned directly (no shell);
// the program inherits its stdio pipes, so tar streams flow program <-> service without a copy in between.
//
// Helper exit status: the program's own, 128+N if it died of signal N, 127 program not found, 126 not executable,
// 125 the helper failed before exec (bad arguments, map rejected, chroot failed; the reason is on stderr).

import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface IdMapEntry {
  inner: number;
  outer: number;
  count: number;
}

export interface IdMapping {
  uids: IdMapEntry[];
  gids: IdMapEntry[];
}

export interface NsExecOptions {
  mapping: IdMapping;
  /** Host directory to chroot into (resolved with the mapped credentials, so the outer uid must reach it). */
  root?: string;
  /** Working directory, inside `root` when one is given. */
  cwd?: string;
  /** argv[0] is the program: an absolute HOST path, opened before the chroot, so it need not exist inside `root`. */
  argv: string[];
  /** The program's whole environment. Default: only a standard PATH, so the service's own variables never leak in. */
  env?: Record<string, string>;
  stdio?: StdioOptions;
}

export const NSEXEC_EXIT_HELPER_FAILED = 125;
export const NSEXEC_EXIT_NOT_EXECUTABLE = 126;
export const NSEXEC_EXIT_NOT_FOUND = 127;

const MAX_ID = 0xffff_ffff;
const DEFAULT_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
};

/** Absolute path of the built helper. This module compiles to dist/src/hv/linux/, the helper to dist/native/. */
export function nsexecPath(): string {
  const path = fileURLToPath(new URL('../../../native/lxssd-nsexec', import.meta.url));
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`lxssd-nsexec helper not found (or not executable) at ${path}: run npm run build`);
  }
  return path;
}

/** The kernel's map syntax as the helper takes it: "0 1000 1,1 100000 65536". Validates like the kernel would. */
export function formatIdMap(entries: IdMapEntry[]): string {
  if (entries.length === 0) throw new RangeError('an id map needs at least one entry');
  return entries
    .map(({ inner, outer, count }) => {
      for (const [name, value] of [['inner', inner], ['outer', outer], ['count', count]] as const) {
        if (!Number.isSafeInteger(value) || value < 0 || value > MAX_ID) {
          throw new RangeError(`id map ${name} must be an integer in 0..${MAX_ID}, got ${value}`);
        }
      }
      if (count < 1) throw new RangeError('id map count must be at least 1');
      if (inner + count > MAX_ID + 1 || outer + count > MAX_ID + 1) {
        throw new RangeError(`id map range ${inner} ${outer} ${count} passes ${MAX_ID}`);
      }
      return `${inner} ${outer} ${count}`;
    })
    .join(',');
}

/** Inner ids are host ids. Only for sessions owned by host root: inner root IS host root here. */
export function identityMapping(): IdMapping {
  return {
    uids: [{ inner: 0, outer: 0, count: MAX_ID }],
    gids: [{ inner: 0, outer: 0, count: MAX_ID }],
  };
}

/** Spawns the helper (which must run as host root). Failures before exec surface as exit code 125, not as throws. */
export function spawnInNamespace(options: NsExecOptions): ChildProcess {
  const program = options.argv[0];
  if (program === undefined) throw new Error('spawnInNamespace: argv must name a program');
  if (!program.startsWith('/')) throw new Error(`spawnInNamespace: program must be an absolute host path: ${program}`);

  const args = ['--uid-map', formatIdMap(options.mapping.uids), '--gid-map', formatIdMap(options.mapping.gids)];
  if (options.root !== undefined) args.push('--root', options.root);
  if (options.cwd !== undefined) args.push('--cwd', options.cwd);
  args.push('--', ...options.argv);

  return spawn(nsexecPath(), args, {
    env: options.env ?? { ...DEFAULT_ENV },
    stdio: options.stdio ?? 'pipe',
    shell: false,
  });
}
