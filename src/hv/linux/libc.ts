// Every libc function lxssd calls through koffi, the C structs they take (declared with koffi.struct, so koffi
// lays them out by the platform's ABI instead of us counting bytes), the constants they need, and the naming of
// errno values. The one module that loads libc.

import koffi from 'koffi';
import { constants } from 'node:os';

// The flag and syscall values below are Linux's generic ones, which these architectures share.
if (process.platform !== 'linux' || !['x64', 'arm64', 'ppc64', 's390x', 'riscv64'].includes(process.arch)) {
  throw new Error(`lxssd's libc bindings support 64-bit Linux only, not ${process.platform}/${process.arch}`);
}

const libc = koffi.load('libc.so.6');

// ---- errno ----

export const { EINTR, EAGAIN, EWOULDBLOCK, EACCES, ERANGE, EMFILE, ENFILE, ENOMEM } = constants.errno;

/** `EAGAIN` for 11, ...: the name Node uses in `error.code`. */
export function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(constants.errno)) if (value === errno) return name;
  return `errno ${errno}`;
}

/** errno of the last failed libc call made through koffi. */
export function lastErrno(): number {
  return koffi.errno();
}

/** A failed libc call, with the errno name (`EAGAIN`, ...) as `code`. */
export class LibcError extends Error {
  constructor(
    message: string,
    readonly errno: number,
    readonly code: string,
  ) {
    super(message);
    this.name = 'LibcError';
  }

  /** `what` failed with `errno` (by default the last call's): the message names the errno. */
  static of(what: string, errno = lastErrno()): LibcError {
    const code = errnoName(errno);
    return new LibcError(`${what}: ${code}`, errno, code);
  }
}

// ---- sockets: credentials, descriptors over SCM_RIGHTS ----

export const AF_UNIX = 1;
export const SOCK_STREAM = 1;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_PEERCRED = 17;
export const SCM_RIGHTS = 1;
export const MSG_CTRUNC = 0x8;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const MSG_CMSG_CLOEXEC = 0x40000000;
/** The kernel's SCM_MAX_FD: the most descriptors one message carries. */
export const SCM_MAX_FD = 253;

export const Ucred = koffi.struct('lxssd_ucred', { pid: 'int32', uid: 'uint32', gid: 'uint32' });

export const getsockopt = libc.func(
  'int getsockopt(int sockfd, int level, int optname, _Out_ lxssd_ucred *optval, _Inout_ uint32 *optlen)',
);

export const Iovec = koffi.struct('lxssd_iovec', { iov_base: 'void *', iov_len: 'size_t' });

export const Msghdr = koffi.struct('lxssd_msghdr', {
  msg_name: 'void *',
  msg_namelen: 'uint32',
  msg_iov: 'lxssd_iovec *',
  msg_iovlen: 'size_t',
  msg_control: 'void *',
  msg_controllen: 'size_t',
  msg_flags: 'int',
});

export const Cmsghdr = koffi.struct('lxssd_cmsghdr', { cmsg_len: 'size_t', cmsg_level: 'int', cmsg_type: 'int' });

// <sys/socket.h>'s CMSG_ALIGN, CMSG_LEN and CMSG_SPACE: a cmsghdr and its data each start on a size_t boundary.
const cmsgAlign = (length: number): number => Math.ceil(length / koffi.sizeof('size_t')) * koffi.sizeof('size_t');
/** CMSG_LEN: cmsg_len of a control message carrying `dataLength` bytes. */
export const cmsgLen = (dataLength: number): number => cmsgAlign(koffi.sizeof(Cmsghdr)) + dataLength;
/** CMSG_SPACE: the room that message takes in msg_control, padding included. */
export const cmsgSpace = (dataLength: number): number => cmsgAlign(koffi.sizeof(Cmsghdr)) + cmsgAlign(dataLength);
/** The offset of the next control message after one whose cmsg_len is `length` (as CMSG_NXTHDR steps). */
export const cmsgNext = cmsgAlign;
/** CMSG_DATA's offset from its header. */
export const CMSG_DATA_OFFSET = cmsgLen(0);

/** One SCM_RIGHTS control message with room for the most descriptors the kernel passes at once. */
export const ScmRights = koffi.struct('lxssd_scm_rights', {
  cmsg_len: 'size_t',
  cmsg_level: 'int',
  cmsg_type: 'int',
  fds: koffi.array('int', SCM_MAX_FD),
});
const rightsSpace = cmsgSpace(SCM_MAX_FD * koffi.sizeof('int'));
if (koffi.offsetof(ScmRights, 'fds') !== CMSG_DATA_OFFSET || koffi.sizeof(ScmRights) !== rightsSpace) {
  throw new Error('lxssd_scm_rights does not match the CMSG_* layout of this platform');
}

// The message lives in memory the caller keeps (its iovec and control buffer are pointers into it), so these
// take its address rather than a JS object koffi would copy.
export const sendmsg = libc.func('intptr_t sendmsg(int sockfd, const lxssd_msghdr *msg, int flags)');
export const recvmsg = libc.func('intptr_t recvmsg(int sockfd, lxssd_msghdr *msg, int flags)');
export const socketpair = libc.func('int socketpair(int domain, int type, int protocol, _Out_ int *sv)');

// ---- pipes, poll, fcntl, flock, rlimits ----

export const O_CLOEXEC = 0o2000000;
/** open(2)'s O_PATH, which Node's fs.constants lacks */
export const O_PATH = 0o10000000;
export const pipe2 = libc.func('int pipe2(_Out_ int *fds, int flags)');

export const POLLIN = 0x1;
export const POLLOUT = 0x4;
export const Pollfd = koffi.struct('lxssd_pollfd', { fd: 'int', events: 'short', revents: 'short' });
export const poll = libc.func('int poll(_Inout_ lxssd_pollfd *fds, unsigned long nfds, int timeout)');

/** struct flock of fcntl(2) (x86_64 and aarch64 layout) */
export const Flock = koffi.struct('lxssd_flock', {
  l_type: 'int16',
  l_whence: 'int16',
  l_start: 'int64',
  l_len: 'int64',
  l_pid: 'int32',
});

/** fcntl(2) with a struct flock: shadow's lckpwdf() is an F_SETLKW write lock on /etc/.pwd.lock */
export const fcntl = libc.func('int fcntl(int fd, int cmd, ...)');
export const F_SETLK = 6;
export const F_WRLCK = 1;

/** flock(2): the service's claim on its state folder */
export const flock = libc.func('int flock(int fd, int operation)');
export const LOCK_EX = 2;
export const LOCK_NB = 4;

export const Rlimit = koffi.struct('lxssd_rlimit', { rlim_cur: 'uint64', rlim_max: 'uint64' });
export const getrlimit = libc.func('int getrlimit(int resource, _Out_ lxssd_rlimit *rlim)');
export const RLIMIT_NOFILE = 7;

// ---- accounts ----

export const Passwd = koffi.struct('lxssd_passwd', {
  pw_name: 'char *',
  pw_passwd: 'char *',
  pw_uid: 'uint32',
  pw_gid: 'uint32',
  pw_gecos: 'char *',
  pw_dir: 'char *',
  pw_shell: 'char *',
});

export const getpwuidR = libc.func(
  'int getpwuid_r(uint32 uid, _Out_ lxssd_passwd *pwd, _Out_ uint8 *buf, size_t buflen, _Out_ void **result)',
);

// ---- detached mount trees (open_tree, mount_setattr: no libc wrappers, so through syscall(2)) ----

/** syscall(2): the arguments after the number are given as koffi's variadic (type, value) pairs. */
export const syscall = libc.func('long syscall(long number, ...)');
/** Both are in the syscall table every architecture shares since Linux 5.2 / 5.12. */
export const SYS_open_tree = 428;
export const SYS_mount_setattr = 442;
export const OPEN_TREE_CLONE = 1;
export const AT_EMPTY_PATH = 0x1000;
export const AT_RECURSIVE = 0x8000;
export const MOUNT_ATTR_RDONLY = 0x1;
export const MountAttr = koffi.struct('lxssd_mount_attr', {
  attr_set: 'uint64',
  attr_clr: 'uint64',
  propagation: 'uint64',
  userns_fd: 'uint64',
});

// ---- opening inside a root (openat2: no libc wrapper before glibc 2.37) and what a descriptor is on ----

/** In the shared table since Linux 5.6. */
export const SYS_openat2 = 437;
export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_IN_ROOT = 0x10;
export const OpenHow = koffi.struct('lxssd_open_how', { flags: 'uint64', mode: 'uint64', resolve: 'uint64' });
/** statfs's f_type (a word on every 64-bit ABI above), then the rest of the struct, unread. */
koffi.struct('lxssd_statfs', { f_type: 'int64', rest: koffi.array('uint8', 112) });
export const fstatfs = libc.func('int fstatfs(int fd, _Out_ lxssd_statfs *buf)');
export const PROC_SUPER_MAGIC = 0x9fa0;

// ---- posix_spawn(3) and reaping: helpers started without forking the service (./helper-spawn.ts) ----

/** fcntl(2)'s F_DUPFD_CLOEXEC: a copy at the lowest free number at or above the argument */
export const F_DUPFD_CLOEXEC = 1030;
export const WNOHANG = 1;
export const POSIX_SPAWN_SETSIGDEF = 0x04;
export const POSIX_SPAWN_SETSIGMASK = 0x08;

// posix_spawn_file_actions_t, posix_spawnattr_t and sigset_t are opaque here: buffers the caller allocates,
// larger than glibc's, initialised and destroyed by glibc's own functions. These return an errno, not -1.
export const posixSpawn = libc.func(
  'int posix_spawn(_Out_ int *pid, const char *path, void *fileActions, void *attr, const char **argv, const char **envp)',
);
export const fileActionsInit = libc.func('int posix_spawn_file_actions_init(void *fileActions)');
export const fileActionsDestroy = libc.func('int posix_spawn_file_actions_destroy(void *fileActions)');
export const addDup2 = libc.func('int posix_spawn_file_actions_adddup2(void *fileActions, int fd, int newfd)');
export const spawnAttrInit = libc.func('int posix_spawnattr_init(void *attr)');
export const spawnAttrDestroy = libc.func('int posix_spawnattr_destroy(void *attr)');
export const spawnAttrSetFlags = libc.func('int posix_spawnattr_setflags(void *attr, short flags)');
export const spawnAttrSetSigMask = libc.func('int posix_spawnattr_setsigmask(void *attr, void *sigset)');
export const spawnAttrSetSigDefault = libc.func('int posix_spawnattr_setsigdefault(void *attr, void *sigset)');
export const sigemptyset = libc.func('int sigemptyset(void *sigset)');
export const waitpid = libc.func('int waitpid(int pid, _Out_ int *status, int options)');
