// Raw descriptor plumbing through koffi: SCM_RIGHTS over a Unix socket (sendmsg/recvmsg), socketpair/pipe2, and
// detached mount trees (open_tree) for /init's MOUNT. Everything here is synchronous and works on raw fds that
// libuv never reads: passing descriptors on a socket libuv also reads would lose them (libuv read()s, which drops
// SCM_RIGHTS). Linux on 64-bit only (the msghdr/cmsghdr layout below).

import koffi from 'koffi';
import { closeSync } from 'node:fs';
import { constants } from 'node:os';

const libc = koffi.load('libc.so.6');

const sendmsgRaw = libc.func('intptr_t sendmsg(int sockfd, void *msg, int flags)');
const recvmsgRaw = libc.func('intptr_t recvmsg(int sockfd, void *msg, int flags)');
const socketpairRaw = libc.func('int socketpair(int domain, int type, int protocol, int *sv)');
const pipe2Raw = libc.func('int pipe2(int *fds, int flags)');
const pollRaw = libc.func('int poll(void *fds, uint64_t nfds, int timeout)');
const syscallRaw = libc.func('long syscall(long number, ...)');

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const O_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_DONTWAIT = 0x40;
const MSG_CTRUNC = 0x8;
const MSG_NOSIGNAL = 0x4000;
const MSG_CMSG_CLOEXEC = 0x40000000;
const POLLIN = 0x1;
const POLLOUT = 0x4;
const EINTR = 4;
const EAGAIN = 11;

/** The kernel's SCM_MAX_FD: the most one message carries. */
const MAX_PASSED = 253;

// struct msghdr (56 bytes), struct iovec (16), struct cmsghdr (16 + data) on 64-bit Linux.
const MSG_OFF = 0;
const IOV_OFF = 64;
const BYTE_OFF = 80;
const CTL_OFF = 96;
const CMSG_HDR = 16;
const ctlSpace = (n: number): number => CMSG_HDR + (((n * 4 + 7) >> 3) << 3);
const CTL_MAX = ctlSpace(MAX_PASSED);

if (process.platform !== 'linux' || !['x64', 'arm64', 'ppc64', 's390x', 'riscv64'].includes(process.arch)) {
  throw new Error(`fd-passing supports 64-bit Linux only, not ${process.platform}/${process.arch}`);
}

// One native block, reused: calls are synchronous and JS is single-threaded.
const block = koffi.alloc('uint8_t', CTL_OFF + CTL_MAX);
const base = koffi.address(block) as bigint;
const view = new DataView(koffi.view(block, CTL_OFF + CTL_MAX));

/** A failed libc call, with the errno name (`EAGAIN`, ...) as `code`. */
export class FdPassingError extends Error {
  constructor(
    message: string,
    readonly errno: number,
    readonly code: string,
  ) {
    super(message);
    this.name = 'FdPassingError';
  }
}

/** `EAGAIN` for 11, ...: the name Node uses in `error.code`. */
export function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(constants.errno)) if (value === errno) return name;
  return `errno ${errno}`;
}

function fail(what: string): never {
  const errno = koffi.errno();
  const code = errnoName(errno);
  throw new FdPassingError(`${what}: ${code}`, errno, code);
}

function setupMessage(dataByte: number, controlLength: number): void {
  view.setUint8(BYTE_OFF, dataByte);
  // iovec { base = &byte, len = 1 }
  view.setBigUint64(IOV_OFF, base + BigInt(BYTE_OFF), true);
  view.setBigUint64(IOV_OFF + 8, 1n, true);
  // msghdr { name = NULL, namelen = 0, iov, iovlen = 1, control, controllen, flags = 0 }
  view.setBigUint64(MSG_OFF + 0, 0n, true);
  view.setUint32(MSG_OFF + 8, 0, true);
  view.setUint32(MSG_OFF + 12, 0, true);
  view.setBigUint64(MSG_OFF + 16, base + BigInt(IOV_OFF), true);
  view.setBigUint64(MSG_OFF + 24, 1n, true);
  view.setBigUint64(MSG_OFF + 32, controlLength ? base + BigInt(CTL_OFF) : 0n, true);
  view.setBigUint64(MSG_OFF + 40, BigInt(controlLength), true);
  view.setInt32(MSG_OFF + 48, 0, true);
}

/** poll(2) one fd for `events`; true when ready, false on timeout. */
function waitFor(fd: number, events: number, timeoutMs: number): boolean {
  const pfd = Buffer.alloc(8);
  pfd.writeInt32LE(fd, 0);
  pfd.writeInt16LE(events, 4);
  for (;;) {
    const r = pollRaw(pfd, 1, timeoutMs) as number;
    if (r >= 0) return r > 0;
    if (koffi.errno() !== EINTR) fail('poll');
  }
}

/**
 * One passing: sendmsg of one byte (its value = the count) carrying `fds` as SCM_RIGHTS. The socket may be
 * non-blocking (libuv's end is): EAGAIN waits for room, up to `timeoutMs`. The caller keeps its copies of `fds`.
 */
export function sendFds(sock: number, fds: readonly number[], timeoutMs = 2000): void {
  if (fds.length < 1 || fds.length > MAX_PASSED) throw new RangeError(`sendFds: 1..${MAX_PASSED} descriptors`);
  const space = ctlSpace(fds.length);
  setupMessage(fds.length, space);
  for (let i = 0; i < space; i++) view.setUint8(CTL_OFF + i, 0);
  view.setBigUint64(CTL_OFF, BigInt(CMSG_HDR + fds.length * 4), true); // cmsg_len = CMSG_LEN(n * 4)
  view.setInt32(CTL_OFF + 8, SOL_SOCKET, true);
  view.setInt32(CTL_OFF + 12, SCM_RIGHTS, true);
  fds.forEach((fd, i) => view.setInt32(CTL_OFF + CMSG_HDR + i * 4, fd, true));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = Number(sendmsgRaw(sock, block, MSG_NOSIGNAL | MSG_DONTWAIT));
    if (n === 1) return;
    if (n >= 0) throw new FdPassingError('sendmsg sent nothing', 0, 'EIO');
    const errno = koffi.errno();
    if (errno === EINTR) continue;
    if (errno !== EAGAIN) fail('sendmsg(SCM_RIGHTS)');
    const left = deadline - Date.now();
    if (left <= 0 || !waitFor(sock, POLLOUT, left)) {
      throw new FdPassingError(`sendmsg(SCM_RIGHTS): the fd channel stayed full for ${timeoutMs} ms`, EAGAIN, 'EAGAIN');
    }
  }
}

/**
 * Takes one passing off `sock` and returns its descriptors (close-on-exec; the caller owns them). It must hold
 * exactly `expected` descriptors, else all are closed and this throws. The ordering rule says the passing is
 * queued before the frame that announces it, so it is normally there at once; on EAGAIN this polls up to
 * `attempts` times `intervalMs` each (blocking the event loop that long at most) and then throws.
 */
export function recvFds(sock: number, expected: number, { attempts = 3, intervalMs = 50 } = {}): number[] {
  for (let attempt = 0; ; attempt++) {
    setupMessage(0, CTL_MAX);
    const n = Number(recvmsgRaw(sock, block, MSG_DONTWAIT | MSG_CMSG_CLOEXEC));
    if (n < 0) {
      const errno = koffi.errno();
      if (errno === EINTR) continue;
      if (errno !== EAGAIN) fail('recvmsg(SCM_RIGHTS)');
      if (attempt + 1 >= attempts) {
        throw new FdPassingError(
          `no descriptors on the fd channel after ${attempts} tries (${expected} announced): the sender broke the ` +
            'ordering rule or died',
          EAGAIN,
          'EAGAIN',
        );
      }
      waitFor(sock, POLLIN, intervalMs);
      continue;
    }
    const fds = parseRights();
    const truncated = (view.getInt32(MSG_OFF + 48, true) & MSG_CTRUNC) !== 0;
    if (n === 0) {
      closeAll(fds);
      throw new FdPassingError('the fd channel is closed', 0, 'EPIPE');
    }
    const byte = view.getUint8(BYTE_OFF);
    if (truncated && byte === expected && fds.length < expected) {
      // The sender passed what it announced; the kernel could not install them all here (RLIMIT_NOFILE). The
      // channel itself is intact: only this passing is lost.
      closeAll(fds);
      throw new FdPassingError(`recvmsg(SCM_RIGHTS): EMFILE (${fds.length} of ${expected} descriptors taken)`, 24, 'EMFILE');
    }
    if (truncated || fds.length !== expected || byte !== expected) {
      closeAll(fds);
      throw new FdPassingError(
        `the fd channel passing holds ${fds.length} descriptors (byte ${byte}${truncated ? ', truncated' : ''}), ` +
          `expected ${expected}`,
        0,
        'EBADMSG',
      );
    }
    return fds;
  }
}

function parseRights(): number[] {
  const controlLength = Number(view.getBigUint64(MSG_OFF + 40, true));
  const fds: number[] = [];
  let off = 0;
  while (off + CMSG_HDR <= controlLength) {
    const len = Number(view.getBigUint64(CTL_OFF + off, true));
    if (len < CMSG_HDR || off + len > controlLength) break;
    const level = view.getInt32(CTL_OFF + off + 8, true);
    const type = view.getInt32(CTL_OFF + off + 12, true);
    if (level === SOL_SOCKET && type === SCM_RIGHTS) {
      for (let i = 0; CMSG_HDR + (i + 1) * 4 <= len; i++) fds.push(view.getInt32(CTL_OFF + off + CMSG_HDR + i * 4, true));
    }
    off += ((len + 7) >> 3) << 3;
  }
  return fds;
}

/** Closes every fd, ignoring errors (for cleanup paths). */
export function closeAll(fds: Iterable<number>): void {
  for (const fd of fds) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  }
}

/** An AF_UNIX stream socketpair, both ends close-on-exec. Either end works as either side. */
export function socketPair(): [number, number] {
  const sv = new Int32Array(2);
  if (socketpairRaw(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) !== 0) fail('socketpair');
  return [sv[0]!, sv[1]!];
}

/** A pipe, both ends close-on-exec: `read` and `write` ends. */
export function pipe(): { read: number; write: number } {
  const fds = new Int32Array(2);
  if (pipe2Raw(fds, O_CLOEXEC) !== 0) fail('pipe2');
  return { read: fds[0]!, write: fds[1]! };
}

/**
 * Descriptors for one pipes-mode launch. `child` are the three to pass (stdin, stdout, stderr of the process);
 * `local` the service's ends, in the same order: write to local[0], read local[1] and local[2]. With `'socket'`
 * every stream is an AF_UNIX socketpair (one end each; end the service's stdin with `socket.end()`, a
 * shutdown(SHUT_WR)); with `'pipe'` they are pipes (the process sees FIFOs, as with a shell). Wrap a local end as
 * `new net.Socket({ fd, readable, writable })`. All are close-on-exec.
 */
export function stdioPair(kind: 'socket' | 'pipe' = 'pipe'): { child: [number, number, number]; local: [number, number, number] } {
  // Out of descriptors, the second or third call fails: what the calls before it made is closed, not leaked.
  const made: number[] = [];
  const kept = (fds: [number, number]): [number, number] => {
    made.push(...fds);
    return fds;
  };
  try {
    if (kind === 'socket') {
      const [a0, b0] = kept(socketPair());
      const [a1, b1] = kept(socketPair());
      const [a2, b2] = kept(socketPair());
      return { child: [a0, a1, a2], local: [b0, b1, b2] };
    }
    const pipeEnds = () => {
      const ends = pipe();
      kept([ends.read, ends.write]);
      return ends;
    };
    const stdin = pipeEnds();
    const stdout = pipeEnds();
    const stderr = pipeEnds();
    return { child: [stdin.read, stdout.write, stderr.write], local: [stdin.write, stdout.read, stderr.read] };
  } catch (error) {
    closeAll(made);
    throw error;
  }
}

const SYS_OPEN_TREE: Partial<Record<string, number>> = { x64: 428, arm64: 428, riscv64: 428, ppc64: 428, s390x: 428 };
const SYS_MOUNT_SETATTR: Partial<Record<string, number>> = { x64: 442, arm64: 442, riscv64: 442, ppc64: 442, s390x: 442 };
const OPEN_TREE_CLONE = 1;
const AT_EMPTY_PATH = 0x1000;
const AT_RECURSIVE = 0x8000;
const MOUNT_ATTR_RDONLY = 0x1;

/**
 * A detached copy of the mount tree at `dirFd` (open_tree(OPEN_TREE_CLONE | AT_RECURSIVE)), read-only when asked,
 * as a close-on-exec fd: what /init's MOUNT wants, because a plain directory fd of the service's mount namespace
 * cannot be bound inside the instance's namespace (the kernel says EINVAL); a detached tree can be moved there.
 * Needs CAP_SYS_ADMIN in the service's mount namespace. Open `dirFd` with the user's rights, so the folder is one
 * they may reach.
 */
export function detachedMountTree(dirFd: number, readOnly = false): number {
  const openTree = SYS_OPEN_TREE[process.arch];
  const setattr = SYS_MOUNT_SETATTR[process.arch];
  if (openTree === undefined || setattr === undefined) throw new Error(`open_tree: unknown syscall number on ${process.arch}`);
  const tree = Number(syscallRaw(openTree, 'int', dirFd, 'str', '', 'uint', OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE));
  if (tree < 0) fail('open_tree(OPEN_TREE_CLONE)');
  if (readOnly) {
    const attr = Buffer.alloc(32); // struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd }
    attr.writeBigUInt64LE(BigInt(MOUNT_ATTR_RDONLY), 0);
    const r = Number(syscallRaw(setattr, 'int', tree, 'str', '', 'uint', AT_EMPTY_PATH | AT_RECURSIVE, 'void *', attr, 'size_t', 32));
    if (r !== 0) {
      const errno = koffi.errno();
      closeAll([tree]);
      koffi.errno(errno);
      fail('mount_setattr(MOUNT_ATTR_RDONLY)');
    }
  }
  return tree;
}
