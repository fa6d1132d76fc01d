// SO_PEERCRED on an accepted Unix-socket connection: the kernel's word on who connected.

import type { Socket } from 'node:net';
import { getsockopt, lastErrno, SO_PEERCRED, SOL_SOCKET, Ucred } from './libc.js';
import koffi from 'koffi';

const UCRED_SIZE = koffi.sizeof(Ucred);

/** The fd Node's libuv handle holds for a connected socket. */
function socketFd(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: { fd?: number } })._handle;
  if (typeof handle?.fd !== 'number' || handle.fd < 0) throw new Error('socket has no file descriptor');
  return handle.fd;
}

/** struct ucred: who holds the other end, as the kernel saw it connect. */
export interface KernelPeer {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

export function peerCredentials(socket: Socket): KernelPeer {
  const fd = socketFd(socket);
  const cred: { pid?: number; uid?: number; gid?: number } = {};
  const length = [UCRED_SIZE];
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, length) !== 0) {
    throw new Error(`getsockopt(SO_PEERCRED) failed: errno ${lastErrno()}`);
  }
  if (cred.pid === undefined || cred.uid === undefined || cred.gid === undefined) {
    throw new Error('getsockopt(SO_PEERCRED) returned no credentials');
  }
  return { pid: cred.pid, uid: cred.uid, gid: cred.gid };
}
