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
