// Root filesystem tarballs for tests: a tiny busybox rootfs (seconds), a real Debian bookworm minbase
// (minutes, once per machine), and hand-crafted archives for the malicious-archive tests.
// Everything shells out to GNU tar / debootstrap with argv arrays, never through a shell.

import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { createInterface } from 'node:readline';
import { constants as fsConstants } from 'node:fs';
import {
  access,
  chmod,
  copyFile,
  lchown,
  lutimes,
  mkdir,
  mkdtemp,
  open,
  readFile,
  readdir,
  rename,
  rm,
  stat,
  symlink,
  unlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

const run = promisify(execFile);
const isRoot = (): boolean => process.getuid?.() === 0;

/** The cache folder: $LXSSD_TEST_CACHE, else /var/cache/lxssd-test when root, else ~/.cache/lxssd-test. */
export function testCacheDir(): string {
  const fromEnv = process.env.LXSSD_TEST_CACHE;
  if (fromEnv) return fromEnv;
  return isRoot() ? '/var/cache/lxssd-test' : join(homedir(), '.cache', 'lxssd-test');
}

async function ensureCacheDir(): Promise<string> {
  const dir = testCacheDir();
  await mkdir(dir, { recursive: true });
  return dir;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

function log(message: string): void {
  process.stderr.write(`[test rootfs] ${message}\n`);
}

// ---------------------------------------------------------------------------------------------------
// busybox rootfs

const BUSYBOX = '/bin/busybox';
/** Bump when the rootfs recipe below changes, so cached tars from the old recipe are not reused. */
const BUSYBOX_RECIPE = 1;
/** Every file of the busybox rootfs gets this mtime, so two builds give the same tar. */
const FIXED_MTIME = new Date('2024-01-01T00:00:00Z');

const BUSYBOX_APPLETS = [
  'sh', 'ash', 'ls', 'cat', 'id', 'echo', 'sleep', 'stty', 'true', 'false', 'env', 'ps', 'mount', 'umount',
  'hostname', 'whoami', 'kill', 'tar', 'head', 'tail', 'dd', 'wc', 'mkdir', 'rmdir', 'rm', 'cp', 'mv', 'ln',
  'touch', 'chmod', 'chown', 'pwd', 'uname', 'grep', 'sed', 'awk', 'printf', 'test', '[', 'readlink', 'stat',
  'date', 'sort', 'uniq', 'tr', 'cut', 'xargs', 'find', 'which', 'su', 'tty', 'nproc', 'seq', 'yes', 'tee',
  'mktemp', 'basename', 'dirname', 'sync', 'timeout', 'groups', 'logname', 'setsid', 'nsenter', 'unshare',
];

interface Node {
  path: string; // relative to the rootfs, no leading slash
  kind: 'dir' | 'file' | 'symlink' | 'copy';
  mode?: number;
  owner?: [number, number];
  content?: string;
  target?: string; // symlink target, or the host file for 'copy'
}

function busyboxLayout(): Node[] {
  const root: [number, number] = [0, 0];
  const alice: [number, number] = [1000, 1000];
  const dirs: Array<[string, number, [number, number]]> = [
    ['bin', 0o755, root], ['sbin', 0o755, root], ['etc', 0o755, root], ['root', 0o700, root],
    ['home', 0o755, root], ['home/alice', 0o755, alice], ['tmp', 0o1777, root], ['proc', 0o555, root],
    ['sys', 0o555, root], ['dev', 0o755, root], ['run', 0o755, root], ['mnt', 0o755, root],
    ['usr', 0o755, root], ['usr/bin', 0o755, root], ['var', 0o755, root],
  ];
  const nodes: Node[] = dirs.map(([path, mode, owner]) => ({ path, kind: 'dir', mode, owner }));
  nodes.push({ path: 'bin/busybox', kind: 'copy', target: BUSYBOX, mode: 0o755, owner: root });
  for (const applet of BUSYBOX_APPLETS) {
    nodes.push({ path: `bin/${applet}`, kind: 'symlink', target: 'busybox', owner: root });
  }
  const files: Array<[string, string, number, [number, number]]> = [
    ['etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:alice:/home/alice:/bin/sh\n', 0o644, root],
    ['etc/group', 'root:x:0:\nalice:x:1000:\n', 0o644, root],
    ['etc/shadow', 'root:*:19000:0:99999:7:::\nalice:*:19000:0:99999:7:::\n', 0o640, root],
    ['etc/hostname', 'lxssd-busybox\n', 0o644, root],
    [
      'etc/os-release',
      'NAME="lxssd test busybox"\nID=busybox\nVERSION_ID=1\nPRETTY_NAME="lxssd test busybox"\n',
      0o644,
      root,
    ],
    ['home/alice/hello.txt', 'hello from alice\n', 0o644, alice],
  ];
  for (const [path, content, mode, owner] of files) nodes.push({ path, kind: 'file', content, mode, owner });
  return nodes;
}

/** The busybox rootfs as a folder (for tests that want to add files before packing). Needs root (chown). */
export async function buildBusyboxRootfs(dir: string): Promise<void> {
  if (!isRoot()) throw new Error('buildBusyboxRootfs needs root: it chowns files to 0:0 and 1000:1000');
  try {
    await access(BUSYBOX, fsConstants.X_OK);
  } catch {
    throw new Error(`${BUSYBOX} is missing: install the Debian package busybox-static`);
  }
  await mkdir(dir, { recursive: true });
  const nodes = busyboxLayout();
  for (const node of nodes) {
    const path = join(dir, node.path);
    switch (node.kind) {
      case 'dir':
        await mkdir(path, { recursive: true });
        break;
      case 'file':
        await writeFile(path, node.content ?? '');
        break;
      case 'copy':
        await copyFile(node.target!, path);
        break;
      case 'symlink':
        await rm(path, { force: true });
        await symlink(node.target!, path);
        break;
    }
    const [uid, gid] = node.owner ?? [0, 0];
    await lchown(path, uid, gid);
    // chmod after chown: chown clears setuid/setgid bits, and the umask does not apply to chmod.
    if (node.kind !== 'symlink' && node.mode !== undefined) await chmod(path, node.mode);
  }
  // Fixed mtimes (children before parents, since creating entries touches the parent folder).
  for (const node of [...nodes].reverse()) await lutimes(join(dir, node.path), FIXED_MTIME, FIXED_MTIME);
  await utimes(dir, FIXED_MTIME, FIXED_MTIME);
}

let busyboxTar: Promise<string> | undefined;

/**
 * Builds (once per process; cached in the cache dir keyed by the busybox binary's size+mtime) a tiny
 * rootfs tar from /bin/busybox (Debian busybox-static) and returns its path.
 */
export function busyboxRootfsTar(): Promise<string> {
  busyboxTar ??= buildBusyboxRootfsTar();
  // A failed build is not memoised, so a later call (e.g. after installing busybox-static) can retry.
  busyboxTar.catch(() => {
    busyboxTar = undefined;
  });
  return busyboxTar;
}

async function buildBusyboxRootfsTar(): Promise<string> {
  let info;
  try {
    info = await stat(BUSYBOX);
  } catch {
    throw new Error(`${BUSYBOX} is missing: install the Debian package busybox-static`);
  }
  const cache = await ensureCacheDir();
  const out = join(cache, `busybox-rootfs-r${BUSYBOX_RECIPE}-${info.size}-${Math.trunc(info.mtimeMs)}.tar`);
  if (await exists(out)) return out;
  const work = await mkdtemp(join(cache, 'busybox-build-'));
  const partial = `${out}.partial-${process.pid}`;
  try {
    await buildBusyboxRootfs(join(work, 'rootfs'));
    await tarCreate(join(work, 'rootfs'), partial, undefined, ['--sort=name']);
    await rename(partial, out); // atomic: a concurrent process building the same tar just overwrites it
  } finally {
    await rm(work, { recursive: true, force: true });
    await rm(partial, { force: true });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// packing

async function tarCreate(dir: string, out: string, compression: 'gz' | 'xz' | undefined, extra: string[]): Promise<void> {
  const args = ['--create', '--file', out, '--numeric-owner', '--format=gnu', ...extra];
  if (compression === 'gz') args.push('--gzip');
  else if (compression === 'xz') args.push('--xz');
  else if (compression !== undefined) throw new Error(`unknown compression ${String(compression)}`);
  args.push('-C', dir, '.');
  try {
    await run('tar', args, { maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const failed = error as { stderr?: string; message: string };
    throw new Error(`tar ${args.join(' ')} failed: ${failed.stderr?.trim() || failed.message}`);
  }
}

/**
 * Packs a folder into a tar with numeric owners as they are on disk (GNU tar --numeric-owner),
 * optionally gzip ('gz') or xz ('xz'). Member names start with `./`.
 */
export async function packTar(dir: string, out: string, compression?: 'gz' | 'xz'): Promise<void> {
  await tarCreate(dir, out, compression, ['--sort=name']);
}

// ---------------------------------------------------------------------------------------------------
// Debian bookworm minbase

const DEBIAN_SUITE = 'bookworm';
const DEBIAN_TAR = `debian-${DEBIAN_SUITE}-minbase.tar`;
// The builder refreshes its lock every minute, so a lock untouched for 5 minutes has no live builder.
const LOCK_STALE_MS = 5 * 60_000;
// Below the 10-minute timeout of the tests that wait for it, so a stuck build fails (and is remembered) first.
const DEBOOTSTRAP_TIMEOUT_MS = 8 * 60_000;
const LOCK_WAIT_MS = DEBOOTSTRAP_TIMEOUT_MS + 5 * 60_000;
// A failed build is remembered this long, so the other test files fail at once with its reason instead of
// each paying for another attempt.
const FAILURE_MEMORY_MS = 60 * 60_000;
const DEBIAN_FAILED = 'debian.failed';

/** deb822 stanzas: fields keyed by lower-case name; comment lines dropped; continuation lines joined. */
function parseDeb822(text: string): Array<Map<string, string>> {
  const stanzas: Array<Map<string, string>> = [];
  let current = new Map<string, string>();
  let lastKey: string | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    if (line.trim() === '') {
      if (current.size > 0) stanzas.push(current);
      current = new Map();
      lastKey = undefined;
      continue;
    }
    if (/^\s/.test(line) && lastKey) {
      current.set(lastKey, `${current.get(lastKey)} ${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    lastKey = line.slice(0, colon).trim().toLowerCase();
    current.set(lastKey, line.slice(colon + 1).trim());
  }
  if (current.size > 0) stanzas.push(current);
  return stanzas;
}

const words = (value: string | undefined): string[] => (value ?? '').split(/\s+/).filter(Boolean);
const usableUri = (uri: string): boolean => /^(https?|file):/.test(uri);

function mirrorFromDeb822(text: string): string | undefined {
  for (const stanza of parseDeb822(text)) {
    if (/^(no|false|0)$/i.test(stanza.get('enabled') ?? '')) continue;
    if (!words(stanza.get('types')).includes('deb')) continue;
    if (!words(stanza.get('suites')).includes(DEBIAN_SUITE)) continue;
    const uri = words(stanza.get('uris')).find(usableUri);
    if (uri) return uri;
  }
  return undefined;
}

function mirrorFromOneLine(text: string): string | undefined {
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    // deb [option=value ...] URI suite component...
    const match = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)(?:\s|$)/.exec(line);
    if (match?.[2] === DEBIAN_SUITE && usableUri(match[1]!)) return match[1];
  }
  return undefined;
}

/** The Debian mirror this machine's apt uses for bookworm ($LXSSD_TEST_DEBIAN_MIRROR overrides). */
export async function debianMirror(): Promise<string> {
  const override = process.env.LXSSD_TEST_DEBIAN_MIRROR;
  if (override) return override;
  const dir = '/etc/apt/sources.list.d';
  const listed = await readdir(dir).catch(() => [] as string[]);
  const sources = [
    `${dir}/debian.sources`,
    ...listed.filter((f) => f.endsWith('.sources') && f !== 'debian.sources').sort().map((f) => `${dir}/${f}`),
  ];
  const lists = ['/etc/apt/sources.list', ...listed.filter((f) => f.endsWith('.list')).sort().map((f) => `${dir}/${f}`)];
  for (const file of sources) {
    const text = await readFile(file, 'utf8').catch(() => undefined);
    const mirror = text === undefined ? undefined : mirrorFromDeb822(text);
    if (mirror) return mirror.replace(/\/+$/, '');
  }
  for (const file of lists) {
    const text = await readFile(file, 'utf8').catch(() => undefined);
    const mirror = text === undefined ? undefined : mirrorFromOneLine(text);
    if (mirror) return mirror.replace(/\/+$/, '');
  }
  throw new Error(
    `no apt source for Debian ${DEBIAN_SUITE} in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list; ` +
      'set LXSSD_TEST_DEBIAN_MIRROR to a Debian mirror URL',
  );
}

async function findDebootstrap(): Promise<string> {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    const candidate = join(dir, 'debootstrap');
    try {
      await access(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  throw new Error('debootstrap is not installed: apt-get install debootstrap (needed to build the Debian minbase tar)');
}

/** Fails fast, with a clear message, when the mirror cannot serve the suite's Release file. */
async function checkMirror(mirror: string): Promise<void> {
  const release = `${mirror}/dists/${DEBIAN_SUITE}/Release`;
  if (mirror.startsWith('file:')) {
    if (!(await exists(new URL(release).pathname))) throw new Error(`Debian mirror ${mirror} has no ${release}`);
    return;
  }
  // Node's fetch ignores http_proxy; debootstrap's wget honours it, so leave the check to debootstrap then.
  if (process.env.http_proxy || process.env.HTTP_PROXY || process.env.https_proxy || process.env.HTTPS_PROXY) return;
  let response: Response;
  try {
    response = await fetch(release, { method: 'HEAD', signal: AbortSignal.timeout(30_000) });
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
    throw new Error(`Debian mirror ${mirror} is unreachable (${release}: ${cause})`);
  }
  if (!response.ok) {
    throw new Error(`Debian mirror ${mirror} is unusable: ${release} answered ${response.status} ${response.statusText}`);
  }
}

interface LockInfo {
  pid: number;
  host: string;
}

/** Takes `<cache>/debian.lock`, or returns undefined once another process has produced `tar` meanwhile. */
async function acquireLock(lock: string, tar: string): Promise<(() => Promise<void>) | undefined> {
  let announced = false;
  const giveUpAt = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const handle = await open(lock, 'wx');
      await handle.writeFile(JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }));
      await handle.close();
      // Keep the lock fresh while building, so "younger than 30 min" means "its builder is alive".
      const refresh = setInterval(() => {
        const now = new Date();
        utimes(lock, now, now).catch(() => undefined);
      }, 60_000);
      refresh.unref();
      return async () => {
        clearInterval(refresh);
        await unlink(lock).catch(() => undefined);
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (await exists(tar)) return undefined;
    let stale = false;
    try {
      const info = await stat(lock);
      stale = Date.now() - info.mtimeMs > LOCK_STALE_MS;
      if (!stale) {
        const holder = JSON.parse(await readFile(lock, 'utf8')) as Partial<LockInfo>;
        if (holder.host === hostname() && typeof holder.pid === 'number' && !processAlive(holder.pid)) stale = true;
      }
    } catch {
      // The lock vanished or is being written: look again shortly.
    }
    if (stale) {
      log(`removing stale lock ${lock}`);
      await unlink(lock).catch(() => undefined);
      continue;
    }
    if (!announced) {
      log(`another process is building the Debian minbase (${lock}); waiting for it`);
      announced = true;
    }
    if (Date.now() > giveUpAt) throw new Error(`gave up waiting for ${lock}: its builder took over ${LOCK_WAIT_MS / 60_000} min`);
    await delay(2000);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Lazily unmounts whatever debootstrap left mounted below `dir` (it mounts proc/sys in the target). */
async function unmountBelow(dir: string): Promise<void> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const points = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined)
    .map((point) => point.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((point) => point === dir || point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of points) await run('umount', ['--lazy', point]).catch(() => undefined);
}

/** Removes a debootstrap folder without ever crossing into a mounted filesystem. */
async function removeBuildDir(dir: string): Promise<void> {
  await unmountBelow(dir);
  await run('rm', ['-rf', '--one-file-system', '--', dir]).catch((error: { stderr?: string }) =>
    log(`could not fully remove ${dir}: ${error.stderr?.trim() ?? String(error)}`),
  );
}

const NOISY = /^I: (Retrieving|Validating|Extracting|Unpacking|Configuring) /;

function runDebootstrap(debootstrap: string, target: string, mirror: string): Promise<void> {
  const args = ['--variant=minbase', DEBIAN_SUITE, target, mirror];
  log(`${debootstrap} ${args.join(' ')}`);
  const pathDirs = new Set([...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/usr/bin', '/sbin', '/bin']);
  const child = spawn(debootstrap, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PATH: [...pathDirs].join(':'), DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' },
  });
  const tail: string[] = [];
  const counts = { Retrieving: 0, Validating: 0, Extracting: 0, Unpacking: 0, Configuring: 0 };
  const onLine = (line: string): void => {
    tail.push(line);
    if (tail.length > 40) tail.shift();
    const noisy = NOISY.exec(line);
    if (noisy) counts[noisy[1] as keyof typeof counts] += 1;
    else log(`debootstrap: ${line}`);
  };
  createInterface({ input: child.stdout }).on('line', onLine);
  createInterface({ input: child.stderr }).on('line', onLine);
  const started = Date.now();
  const progress = setInterval(() => {
    const seconds = Math.round((Date.now() - started) / 1000);
    log(
      `debootstrap running ${seconds}s: retrieved ${counts.Retrieving}, extracted ${counts.Extracting}, ` +
        `unpacked ${counts.Unpacking}, configured ${counts.Configuring} packages`,
    );
  }, 30_000);
  progress.unref();
  const killer = setTimeout(() => child.kill('SIGTERM'), DEBOOTSTRAP_TIMEOUT_MS);
  killer.unref();
  // A test runner that gives up on this file must not leave debootstrap running behind it.
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('close', () => process.off('exit', killOnExit));
  return new Promise((resolve, reject) => {
    child.on('error', (error) => {
      clearInterval(progress);
      clearTimeout(killer);
      reject(new Error(`cannot run ${debootstrap}: ${error.message}`));
    });
    child.on('close', async (code, signal) => {
      clearInterval(progress);
      clearTimeout(killer);
      if (code === 0) {
        resolve();
        return;
      }
      const debootstrapLog = await readFile(join(target, 'debootstrap', 'debootstrap.log'), 'utf8').catch(() => '');
      const text = [...tail, ...debootstrapLog.split('\n').slice(-20)].join('\n');
      const unreachable = /Failed getting release file|Temporary failure in name resolution|Connection refused|unable to resolve|Network is unreachable|Couldn't download/i.test(
        text,
      );
      reject(
        new Error(
          `debootstrap ${unreachable ? `could not download from the Debian mirror ${mirror}` : 'failed'} ` +
            `(${signal ? `signal ${signal}` : `exit ${code}`}):\n${text}`,
        ),
      );
    });
  });
}

/** Rethrows the reason of a build that failed lately on this machine (remove the file to retry now). */
async function throwRecentFailure(cache: string): Promise<void> {
  const record = join(cache, DEBIAN_FAILED);
  const text = await readFile(record, 'utf8').catch(() => undefined);
  if (text === undefined) return;
  const failure = JSON.parse(text) as { time: number; message: string };
  if (Date.now() - failure.time > FAILURE_MEMORY_MS) return;
  throw new Error(`${failure.message}\n(the Debian minbase build failed at ${new Date(failure.time).toISOString()}; remove ${record} to retry)`);
}

let debianTar: Promise<string> | undefined;

/**
 * A Debian bookworm minbase made with debootstrap, packed as tar (no compression), cached in the cache
 * dir so a machine pays once. Returns the tar path. Throws a clear Error when debootstrap is missing or
 * the mirror unreachable.
 */
export function debianMinbaseTar(): Promise<string> {
  debianTar ??= buildDebianMinbaseTar();
  debianTar.catch(() => {
    debianTar = undefined;
  });
  return debianTar;
}

async function buildDebianMinbaseTar(): Promise<string> {
  const cache = await ensureCacheDir();
  const out = join(cache, DEBIAN_TAR);
  if (await exists(out)) return out;
  if (!isRoot()) throw new Error('building the Debian minbase tar needs root (debootstrap)');
  const debootstrap = await findDebootstrap();
  const mirror = await debianMirror();
  await throwRecentFailure(cache);
  const release = await acquireLock(join(cache, 'debian.lock'), out);
  if (!release) return out; // another process built it while we waited
  try {
    if (await exists(out)) return out;
    await throwRecentFailure(cache);
    // Holding the lock, nobody else is building: clear leftovers of killed runs.
    for (const entry of await readdir(cache)) {
      if (entry.startsWith('debian-build-')) await removeBuildDir(join(cache, entry));
      else if (entry.startsWith(`${DEBIAN_TAR}.partial-`)) await rm(join(cache, entry), { force: true });
    }
    await checkMirror(mirror);
    const started = Date.now();
    log(`building the Debian ${DEBIAN_SUITE} minbase from ${mirror} (takes minutes, once per machine; cache ${cache})`);
    const work = await mkdtemp(join(cache, 'debian-build-'));
    const partial = `${out}.partial-${process.pid}`;
    try {
      await runDebootstrap(debootstrap, work, mirror).catch(async (error: Error) => {
        await writeFile(join(cache, DEBIAN_FAILED), JSON.stringify({ time: Date.now(), message: error.message }));
        throw error;
      });
      log(`debootstrap done in ${Math.round((Date.now() - started) / 1000)}s; packing ${out}`);
      await unmountBelow(work);
      await tarCreate(work, partial, undefined, [
        '--sort=name',
        '--exclude=./dev/*',
        '--exclude=./proc/*',
        '--exclude=./sys/*',
      ]);
      await rename(partial, out);
      const size = (await stat(out)).size;
      log(`Debian minbase ready: ${out} (${(size / 1048576).toFixed(1)} MiB) after ${Math.round((Date.now() - started) / 1000)}s`);
      return out;
    } finally {
      await rm(partial, { force: true });
      await removeBuildDir(work);
    }
  } finally {
    await release();
  }
}

// ---------------------------------------------------------------------------------------------------
// crafted archives

export type CraftedEntry =
  | { type: 'file'; name: string; content: string; mode?: number; uid?: number; gid?: number }
  | { type: 'dir'; name: string; mode?: number }
  | { type: 'symlink'; name: string; target: string }
  | { type: 'hardlink'; name: string; target: string };

const BLOCK = 512;
const CRAFTED_MTIME = Math.trunc(FIXED_MTIME.getTime() / 1000);

function putString(header: Buffer, offset: number, length: number, value: string, field: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new Error(`tar ${field} "${value}" is longer than ${length} bytes`);
  bytes.copy(header, offset);
}

function putOctal(header: Buffer, offset: number, length: number, value: number, field: string): void {
  // length - 1 octal digits, then NUL.
  const digits = Math.trunc(value).toString(8);
  if (value < 0 || digits.length > length - 1) throw new Error(`tar ${field} ${value} does not fit in ${length} bytes`);
  header.write(`${digits.padStart(length - 1, '0')}\0`, offset, length, 'ascii');
}

/** Splits a long name into ustar prefix (≤155 bytes) + name (≤100 bytes) at a slash; the name stays literal. */
function splitName(name: string): [prefix: string, name: string] {
  if (Buffer.byteLength(name) <= 100) return ['', name];
  for (let slash = name.lastIndexOf('/'); slash > 0; slash = name.lastIndexOf('/', slash - 1)) {
    const prefix = name.slice(0, slash);
    const rest = name.slice(slash + 1);
    if (Buffer.byteLength(rest) > 100) break;
    if (rest !== '' && Buffer.byteLength(prefix) <= 155) return [prefix, rest];
  }
  throw new Error(`tar name "${name}" does not fit a ustar header (name 100 + prefix 155 bytes)`);
}

function header(entry: CraftedEntry, size: number): Buffer {
  const block = Buffer.alloc(BLOCK);
  const [prefix, name] = splitName(entry.name);
  const defaults = { file: 0o644, dir: 0o755, symlink: 0o777, hardlink: 0o644 } as const;
  const mode = 'mode' in entry && entry.mode !== undefined ? entry.mode : defaults[entry.type];
  const uid = entry.type === 'file' ? (entry.uid ?? 0) : 0;
  const gid = entry.type === 'file' ? (entry.gid ?? 0) : 0;
  const typeflag = { file: '0', hardlink: '1', symlink: '2', dir: '5' }[entry.type];
  putString(block, 0, 100, name, 'name');
  putOctal(block, 100, 8, mode, 'mode');
  putOctal(block, 108, 8, uid, 'uid');
  putOctal(block, 116, 8, gid, 'gid');
  putOctal(block, 124, 12, size, 'size');
  putOctal(block, 136, 12, CRAFTED_MTIME, 'mtime');
  block.write(typeflag, 156, 1, 'ascii');
  if (entry.type === 'symlink' || entry.type === 'hardlink') putString(block, 157, 100, entry.target, 'linkname');
  block.write('ustar\0', 257, 6, 'ascii');
  block.write('00', 263, 2, 'ascii');
  // uname/gname (265, 297) stay empty so extraction uses the numeric ids as given.
  putOctal(block, 329, 8, 0, 'devmajor');
  putOctal(block, 337, 8, 0, 'devminor');
  putString(block, 345, 155, prefix, 'prefix');
  // Checksum: the unsigned byte sum of the header with the checksum field read as eight spaces,
  // stored as six octal digits, NUL, space.
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return block;
}

/**
 * Builds a tar whose entries are given literally (for malicious-archive tests): names and link targets
 * are written exactly as given (`../../x`, `/etc/x`, ...), never normalised. ustar format, mtime fixed,
 * owners numeric only (no user/group names).
 */
export async function craftedTar(out: string, entries: CraftedEntry[]): Promise<void> {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const data = entry.type === 'file' ? Buffer.from(entry.content, 'utf8') : Buffer.alloc(0);
    parts.push(header(entry, data.length));
    if (data.length > 0) {
      parts.push(data);
      const padding = (BLOCK - (data.length % BLOCK)) % BLOCK;
      if (padding) parts.push(Buffer.alloc(padding));
    }
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  await writeFile(out, Buffer.concat(parts));
}
