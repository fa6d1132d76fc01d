/* Setup messages (see setup_msg.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/socket.h>

#include "setup_msg.h"

int msg_send(int fd, int tag, int32_t value)
{
	struct msg m = { .tag = tag, .value = value };
	ssize_t n;

	do
		n = send(fd, &m, sizeof m, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof m ? 0 : -1;
}

int msg_recv(int fd, struct msg *m)
{
	ssize_t n;

	do
		n = recv(fd, m, sizeof *m, 0);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof *m ? 0 : -1;
}

int msg_wait(int fd, int tag)
{
	struct msg m;

	return msg_recv(fd, &m) == 0 && m.tag == tag ? 0 : -1;
}
