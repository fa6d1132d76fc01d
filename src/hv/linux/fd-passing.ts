// Raw descriptor plumbing through koffi: SCM_RIGHTS over a Unix socket (sendmsg/recvmsg), socketpair/pipe2, and
// detached mount trees (open_tree) for /init's MOUNT. Everything here is synchronous and works on raw fds that
// libuv never reads: passing descriptors on a socket libuv also reads would lose them (libuv read()s, which drops
// SCM_RIGHTS). The calls, structs and constants are libc.ts's; this is what lxssd does with them.

import koffi from 'koffi';
import { closeSync } from 'node:fs';
import {
  AF_UNIX,
  AT_EMPTY_PATH,
  AT_RECURSIVE,
  CMSG_DATA_OFFSET,
  Cmsghdr,
  cmsgLen,
  cmsgNext,
  cmsgSpace,
  EAGAIN,
  EINTR,
  EMFILE,
  Iovec,
  lastErrno,
  LibcError,
  MOUNT_ATTR_RDONLY,
  MountAttr,
  MSG_CMSG_CLOEXEC,
  MSG_CTRUNC,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  Msghdr,
  O_CLOEXEC,
  OPEN_TREE_CLONE,
  pipe2,
  poll,
  POLLIN,
  POLLOUT,
  recvmsg,
  SCM_MAX_FD,
  SCM_RIGHTS,
  ScmRights,
  sendmsg,
  SOCK_CLOEXEC,
  SOCK_STREAM,
  socketpair,
  SOL_SOCKET,
  SYS_mount_setattr,
  SYS_open_tree,
  syscall,
} from './libc.js';

const FD_SIZE = koffi.sizeof('int');
const CMSG_HEADER_SIZE = koffi.sizeof(Cmsghdr);

// One native block, reused: calls are synchronous and JS is single-threaded. The msghdr points at the iovec,
// the iovec at the one data byte (set once: neither moves), msg_control at the SCM_RIGHTS message.
const Passing = koffi.struct({ header: Msghdr, iov: Iovec, control: ScmRights, byte: 'uint8' });
const block = koffi.alloc(Passing, 1) as bigint;
const headerAt = block + BigInt(koffi.offsetof(Passing, 'header'));
const iovAt = block + BigInt(koffi.offsetof(Passing, 'iov'));
const controlAt = block + BigInt(koffi.offsetof(Passing, 'control'));
const byteAt = block + BigInt(koffi.offsetof(Passing, 'byte'));
const CONTROL_MAX = cmsgSpace(SCM_MAX_FD * FD_SIZE);
koffi.encode(iovAt, Iovec, { iov_base: byteAt, iov_len: 1 });

function fail(what: string, errno = lastErrno()): never {
  throw LibcError.of(what, errno);
}

function setupMessage(dataByte: number, controlLength: number): void {
  koffi.encode(byteAt, 'uint8', dataByte);
  koffi.encode(headerAt, Msghdr, {
    msg_name: null,
    msg_namelen: 0,
    msg_iov: iovAt,
    msg_iovlen: 1,
    msg_control: controlLength ? controlAt : null,
    msg_controllen: controlLength,
    msg_flags: 0,
  });
}

/** poll(2) one fd for `events`; true when ready, false on timeout. */
function waitFor(fd: number, events: number, timeoutMs: number): boolean {
  for (;;) {
    const r = poll({ fd, events, revents: 0 }, 1, timeoutMs) as number;
    if (r >= 0) return r > 0;
    if (lastErrno() !== EINTR) fail('poll');
  }
}

/**
 * One passing, or none when the socket has no room for it now (EAGAIN): false, and nothing was sent. The caller
 * keeps its copies of `fds` either way.
 */
export function trySendFds(sock: number, fds: readonly number[]): boolean {
  if (fds.length < 1 || fds.length > SCM_MAX_FD) throw new RangeError(`sendFds: 1..${SCM_MAX_FD} descriptors`);
  encodePassing(fds);
  for (;;) {
    const n = Number(sendmsg(sock, headerAt, MSG_NOSIGNAL | MSG_DONTWAIT));
    if (n === 1) return true;
    if (n >= 0) throw new LibcError('sendmsg sent nothing', 0, 'EIO');
    const errno = lastErrno();
    if (errno === EINTR) continue;
    if (errno === EAGAIN) return false;
    fail('sendmsg(SCM_RIGHTS)', errno);
  }
}

function encodePassing(fds: readonly number[]): void {
  setupMessage(fds.length, cmsgSpace(fds.length * FD_SIZE));
  // koffi zero-fills the rest of `fds`, the padding included.
  koffi.encode(controlAt, ScmRights, {
    cmsg_len: cmsgLen(fds.length * FD_SIZE),
    cmsg_level: SOL_SOCKET,
    cmsg_type: SCM_RIGHTS,
    fds,
  });
}

/**
 * One passing: sendmsg of one byte (its value = the count) carrying `fds` as SCM_RIGHTS. The socket may be
 * non-blocking (libuv's end is): EAGAIN waits for room, up to `timeoutMs`. The caller keeps its copies of `fds`.
 */
export function sendFds(sock: number, fds: readonly number[], timeoutMs = 2000): void {
  if (fds.length < 1 || fds.length > SCM_MAX_FD) throw new RangeError(`sendFds: 1..${SCM_MAX_FD} descriptors`);
  encodePassing(fds);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = Number(sendmsg(sock, headerAt, MSG_NOSIGNAL | MSG_DONTWAIT));
    if (n === 1) return;
    if (n >= 0) throw new LibcError('sendmsg sent nothing', 0, 'EIO');
    const errno = lastErrno();
    if (errno === EINTR) continue;
    if (errno !== EAGAIN) fail('sendmsg(SCM_RIGHTS)', errno);
    const left = deadline - Date.now();
    if (left <= 0 || !waitFor(sock, POLLOUT, left)) {
      throw new LibcError(`sendmsg(SCM_RIGHTS): the fd channel stayed full for ${timeoutMs} ms`, EAGAIN, 'EAGAIN');
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
    setupMessage(0, CONTROL_MAX);
    const n = Number(recvmsg(sock, headerAt, MSG_DONTWAIT | MSG_CMSG_CLOEXEC));
    if (n < 0) {
      const errno = lastErrno();
      if (errno === EINTR) continue;
      if (errno !== EAGAIN) fail('recvmsg(SCM_RIGHTS)', errno);
      if (attempt + 1 >= attempts) {
        throw new LibcError(
          `no descriptors on the fd channel after ${attempts} tries (${expected} announced): the sender broke the ` +
            'ordering rule or died',
          EAGAIN,
          'EAGAIN',
        );
      }
      waitFor(sock, POLLIN, intervalMs);
      continue;
    }
    const received = koffi.decode(headerAt, Msghdr) as { msg_controllen: number; msg_flags: number };
    const fds = parseRights(received.msg_controllen);
    const truncated = (received.msg_flags & MSG_CTRUNC) !== 0;
    if (n === 0) {
      closeAll(fds);
      throw new LibcError('the fd channel is closed', 0, 'EPIPE');
    }
    const byte = koffi.decode(byteAt, 'uint8') as number;
    if (truncated && byte === expected && fds.length < expected) {
      // The sender passed what it announced; the kernel could not install them all here (RLIMIT_NOFILE). The
      // channel itself is intact: only this passing is lost.
      closeAll(fds);
      throw new LibcError(`recvmsg(SCM_RIGHTS): EMFILE (${fds.length} of ${expected} descriptors taken)`, EMFILE, 'EMFILE');
    }
    if (truncated || fds.length !== expected || byte !== expected) {
      closeAll(fds);
      throw new LibcError(
        `the fd channel passing holds ${fds.length} descriptors (byte ${byte}${truncated ? ', truncated' : ''}), ` +
          `expected ${expected}`,
        0,
        'EBADMSG',
      );
    }
    return fds;
  }
}

/** The descriptors of every SCM_RIGHTS message in the `controlLength` bytes recvmsg filled in (CMSG_NXTHDR's walk). */
function parseRights(controlLength: number): number[] {
  const fds: number[] = [];
  for (let off = 0; off + CMSG_HEADER_SIZE <= controlLength; ) {
    const cmsg = koffi.decode(controlAt, off, Cmsghdr) as { cmsg_len: number; cmsg_level: number; cmsg_type: number };
    if (cmsg.cmsg_len < CMSG_HEADER_SIZE || off + cmsg.cmsg_len > controlLength) break;
    if (cmsg.cmsg_level === SOL_SOCKET && cmsg.cmsg_type === SCM_RIGHTS) {
      const count = Math.floor((cmsg.cmsg_len - CMSG_DATA_OFFSET) / FD_SIZE);
      fds.push(...(koffi.decode(controlAt, off + CMSG_DATA_OFFSET, 'int', count) as Int32Array));
    }
    off += cmsgNext(cmsg.cmsg_len);
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
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) !== 0) fail('socketpair');
  return [sv[0]!, sv[1]!];
}

/** A pipe, both ends close-on-exec: `read` and `write` ends. */
export function pipe(): { read: number; write: number } {
  const fds = new Int32Array(2);
  if (pipe2(fds, O_CLOEXEC) !== 0) fail('pipe2');
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

const MOUNT_ATTR_POINTER = koffi.pointer(MountAttr);

/**
 * A detached copy of the mount tree at `dirFd` (open_tree(OPEN_TREE_CLONE | AT_RECURSIVE)), read-only when asked,
 * as a close-on-exec fd: what /init's MOUNT wants, because a plain directory fd of the service's mount namespace
 * cannot be bound inside the instance's namespace (the kernel says EINVAL); a detached tree can be moved there.
 * Needs CAP_SYS_ADMIN in the service's mount namespace. Open `dirFd` with the user's rights, so the folder is one
 * they may reach.
 */
export function detachedMountTree(dirFd: number, readOnly = false): number {
  const tree = Number(syscall(SYS_open_tree, 'int', dirFd, 'str', '', 'uint', OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE));
  if (tree < 0) fail('open_tree(OPEN_TREE_CLONE)');
  if (readOnly) {
    const attr = { attr_set: MOUNT_ATTR_RDONLY, attr_clr: 0, propagation: 0, userns_fd: 0 };
    const flags = AT_EMPTY_PATH | AT_RECURSIVE;
    const size = koffi.sizeof(MountAttr);
    const r = Number(syscall(SYS_mount_setattr, 'int', tree, 'str', '', 'uint', flags, MOUNT_ATTR_POINTER, attr, 'size_t', size));
    if (r !== 0) {
      const errno = lastErrno();
      closeAll([tree]);
      fail('mount_setattr(MOUNT_ATTR_RDONLY)', errno);
    }
  }
  return tree;
}
