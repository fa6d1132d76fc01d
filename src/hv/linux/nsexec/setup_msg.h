/* The setup messages between the supervisor, the child and PID 1. */
#ifndef LXSSD_NSEXEC_SETUP_MSG_H
#define LXSSD_NSEXEC_SETUP_MSG_H

#include <stdint.h>

/*
 * Setup messages over a SOCK_SEQPACKET pair (one record each, so the child's
 * and PID 1's messages never run together):
 *   child -> supervisor  MSG_UNSHARED  new user namespace exists (maps mode)
 *   supervisor -> child  MSG_MAPPED    maps written
 *   child -> supervisor  MSG_PID1      value = host pid of PID 1 (--new-pid)
 *   program's process -> supervisor  MSG_READY  set up, about to exec
 * EOF means every other holder of the peer end died or exec'd.  MSG_NOSIGNAL:
 * a dead peer must give EPIPE, not kill us with SIGPIPE.
 */
enum { MSG_UNSHARED = 'u', MSG_MAPPED = 'm', MSG_PID1 = 'p', MSG_READY = 'r' };

struct msg {
	int32_t tag;
	int32_t value;
};

/* One message each; 0, or -1 (EOF, error, or a short record). */
int msg_send(int fd, int tag, int32_t value);
int msg_recv(int fd, struct msg *m);
/* Receives one message: 0 if it is TAG. */
int msg_wait(int fd, int tag);

#endif
