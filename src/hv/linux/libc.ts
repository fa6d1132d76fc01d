// The libc functions lxssd calls through koffi, declared once.

import koffi from 'koffi';

const libc = koffi.load('libc.so.6');

export const Ucred = koffi.struct('lxssd_ucred', { pid: 'int32', uid: 'uint32', gid: 'uint32' });

export const Passwd = koffi.struct('lxssd_passwd', {
  pw_name: 'char *',
  pw_passwd: 'char *',
  pw_uid: 'uint32',
  pw_gid: 'uint32',
  pw_gecos: 'char *',
  pw_dir: 'char *',
  pw_shell: 'char *',
});

export const getsockopt = libc.func(
  'int getsockopt(int sockfd, int level, int optname, _Out_ lxssd_ucred *optval, _Inout_ uint32 *optlen)',
);

export const getpwuidR = libc.func(
  'int getpwuid_r(uint32 uid, _Out_ lxssd_passwd *pwd, _Out_ uint8 *buf, size_t buflen, _Out_ void **result)',
);

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
export const EAGAIN = 11;
export const EACCES = 13;

export const Rlimit = koffi.struct('lxssd_rlimit', { rlim_cur: 'uint64', rlim_max: 'uint64' });
export const getrlimit = libc.func('int getrlimit(int resource, _Out_ lxssd_rlimit *rlim)');
export const RLIMIT_NOFILE = 7;

/** flock(2): the service's claim on its state folder */
export const flock = libc.func('int flock(int fd, int operation)');
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const EWOULDBLOCK = 11;

export const SOL_SOCKET = 1;
export const SO_PEERCRED = 17;
export const ERANGE = 34;

/** errno of the last failed libc call made through koffi. */
export function lastErrno(): number {
  return koffi.errno();
}
