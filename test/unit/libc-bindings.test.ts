// The libc bindings (src/hv/linux/libc.ts) and what fd-passing.ts builds on them: the structs koffi lays out match
// the C ABI of 64-bit Linux, errno values are named as Node names them, and real descriptors travel a socketpair
// as SCM_RIGHTS, one, several and the most the kernel allows, arriving close-on-exec.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, fstatSync, readdirSync, readFileSync, readSync, writeSync } from 'node:fs';
import koffi from 'koffi';
import { closeAll, pipe, recvFds, sendFds, socketPair } from '../../src/hv/linux/fd-passing.js';
import {
  CMSG_DATA_OFFSET,
  Cmsghdr,
  cmsgLen,
  cmsgSpace,
  EAGAIN,
  errnoName,
  Flock,
  Iovec,
  LibcError,
  MountAttr,
  Msghdr,
  O_CLOEXEC,
  Passwd,
  poll,
  POLLIN,
  Pollfd,
  Rlimit,
  SCM_MAX_FD,
  ScmRights,
  Ucred,
} from '../../src/hv/linux/libc.js';

/** The flags of an open descriptor, from /proc/self/fdinfo (octal, as the kernel prints them). */
const fdFlags = (fd: number): number => parseInt(/^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8);

function readAll(fd: number, length: number): string {
  const buffer = Buffer.alloc(length);
  const n = readSync(fd, buffer, 0, length, null);
  return buffer.subarray(0, n).toString();
}

describe('libc bindings', () => {
  it('lays the structs out as the C ABI of 64-bit Linux does', () => {
    // <sys/socket.h>, <bits/uio.h>, <poll.h>, <fcntl.h>, <sys/resource.h>, <pwd.h>, <linux/mount.h>
    assert.equal(koffi.sizeof(Msghdr), 56);
    assert.equal(koffi.offsetof(Msghdr, 'msg_iov'), 16);
    assert.equal(koffi.offsetof(Msghdr, 'msg_control'), 32);
    assert.equal(koffi.offsetof(Msghdr, 'msg_controllen'), 40);
    assert.equal(koffi.offsetof(Msghdr, 'msg_flags'), 48);
    assert.equal(koffi.sizeof(Iovec), 16);
    assert.equal(koffi.sizeof(Cmsghdr), 16);
    assert.equal(koffi.sizeof(Pollfd), 8);
    assert.equal(koffi.offsetof(Pollfd, 'revents'), 6);
    assert.equal(koffi.sizeof(Ucred), 12);
    assert.equal(koffi.sizeof(Flock), 32);
    assert.equal(koffi.sizeof(Rlimit), 16);
    assert.equal(koffi.sizeof(Passwd), 48);
    assert.equal(koffi.sizeof(MountAttr), 32);
  });

  it('computes CMSG_LEN and CMSG_SPACE as <sys/socket.h> does, and the SCM_RIGHTS buffer fits the most fds', () => {
    assert.equal(CMSG_DATA_OFFSET, 16);
    assert.equal(cmsgLen(4), 20);
    assert.equal(cmsgSpace(4), 24);
    assert.equal(cmsgSpace(8), 24);
    assert.equal(koffi.offsetof(ScmRights, 'fds'), CMSG_DATA_OFFSET);
    assert.equal(koffi.sizeof(ScmRights), cmsgSpace(SCM_MAX_FD * 4));
  });

  it('names errno values as Node does', () => {
    assert.equal(errnoName(11), 'EAGAIN');
    assert.equal(errnoName(EAGAIN), 'EAGAIN');
    assert.equal(errnoName(4), 'EINTR');
    assert.equal(errnoName(24), 'EMFILE');
    assert.equal(errnoName(99999), 'errno 99999');
    const error = LibcError.of('pipe2', 24);
    assert.equal(error.code, 'EMFILE');
    assert.equal(error.errno, 24);
    assert.equal(error.message, 'pipe2: EMFILE');
  });

  it('polls a socket through an _Inout_ pollfd: not readable, then readable', () => {
    const [a, b] = socketPair();
    try {
      const idle = { fd: a, events: POLLIN, revents: 0 };
      assert.equal(poll(idle, 1, 0), 0);
      writeSync(b, 'x');
      const ready = { fd: a, events: POLLIN, revents: 0 };
      assert.equal(poll(ready, 1, 1000), 1);
      assert.equal(ready.revents & POLLIN, POLLIN);
    } finally {
      closeAll([a, b]);
    }
  });

  it('makes pipes and socketpairs close-on-exec', () => {
    const ends = pipe();
    const [a, b] = socketPair();
    try {
      for (const fd of [ends.read, ends.write, a, b]) assert.equal(fdFlags(fd) & O_CLOEXEC, O_CLOEXEC, `fd ${fd}`);
      writeSync(ends.write, 'through');
      assert.equal(readAll(ends.read, 16), 'through');
    } finally {
      closeAll([ends.read, ends.write, a, b]);
    }
  });
});

describe('SCM_RIGHTS over a socketpair', () => {
  it('passes a pipe end that still writes to the same pipe, close-on-exec', () => {
    const [a, b] = socketPair();
    const ends = pipe();
    try {
      sendFds(a, [ends.write]);
      const [received] = recvFds(b, 1);
      assert.ok(received !== undefined && received !== ends.write);
      assert.equal(fdFlags(received) & O_CLOEXEC, O_CLOEXEC);
      assert.equal(fstatSync(received).ino, fstatSync(ends.write).ino);
      writeSync(received, 'hello');
      closeSync(received);
      assert.equal(readAll(ends.read, 16), 'hello');
    } finally {
      closeAll([a, b, ends.read, ends.write]);
    }
  });

  it('passes the three stdio descriptors of a launch in order, and passings one after another', () => {
    const [a, b] = socketPair();
    const pipes = [pipe(), pipe(), pipe()];
    try {
      for (let round = 0; round < 3; round++) {
        sendFds(a, pipes.map((p) => p.write));
        const received = recvFds(b, 3);
        assert.equal(received.length, 3);
        received.forEach((fd, i) => writeSync(fd, `${round}:${i}`));
        closeAll(received);
        pipes.forEach((p, i) => assert.equal(readAll(p.read, 16), `${round}:${i}`));
      }
    } finally {
      closeAll([a, b, ...pipes.flatMap((p) => [p.read, p.write])]);
    }
  });

  it(`passes SCM_MAX_FD (${SCM_MAX_FD}) descriptors in one message`, () => {
    const [a, b] = socketPair();
    const ends = pipe();
    try {
      sendFds(a, new Array<number>(SCM_MAX_FD).fill(ends.write));
      const received = recvFds(b, SCM_MAX_FD);
      assert.equal(received.length, SCM_MAX_FD);
      assert.equal(new Set(received).size, SCM_MAX_FD);
      for (const fd of received) assert.equal(fstatSync(fd).ino, fstatSync(ends.write).ino);
      closeAll(received);
      assert.throws(() => sendFds(a, new Array<number>(SCM_MAX_FD + 1).fill(ends.write)), RangeError);
    } finally {
      closeAll([a, b, ends.read, ends.write]);
    }
  });

  it('refuses a passing with another count than announced, and closes what came', () => {
    const [a, b] = socketPair();
    const ends = pipe();
    try {
      const open = readdirSync('/proc/self/fd').length;
      sendFds(a, [ends.write, ends.write]);
      assert.throws(
        () => recvFds(b, 1),
        (error: unknown) => error instanceof LibcError && error.code === 'EBADMSG',
      );
      assert.equal(readdirSync('/proc/self/fd').length, open);
    } finally {
      closeAll([a, b, ends.read, ends.write]);
    }
  });

  it('says EAGAIN when nothing was passed, and EPIPE once the other end is closed', () => {
    const [a, b] = socketPair();
    try {
      assert.throws(
        () => recvFds(b, 1, { attempts: 2, intervalMs: 1 }),
        (error: unknown) => error instanceof LibcError && error.code === 'EAGAIN',
      );
      closeSync(a);
      assert.throws(
        () => recvFds(b, 1),
        (error: unknown) => error instanceof LibcError && error.code === 'EPIPE',
      );
    } finally {
      closeAll([a, b]);
    }
  });
});
