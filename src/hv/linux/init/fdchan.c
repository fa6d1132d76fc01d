/* SCM_RIGHTS send/receive on the fd channel (see fdchan.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdchan.h"

/* The kernel's SCM_MAX_FD: the most one message can carry.  The buffer is
 * that big so a peer sending too many descriptors gets them all closed, not
 * half of them leaked by a truncated control message. */
#define MAX_PASSED 253

static void close_all(const int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

int fdchan_recv(int sock, int *fds, int expected, int timeout_ms)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * MAX_PASSED)];
		struct cmsghdr align;
	} control;
	int got[MAX_PASSED];
	int ngot = 0;
	unsigned char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof control.buf,
	};
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	ssize_t n;
	int r;

	do
		r = poll(&pfd, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;

	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == ECONNRESET ? -EPIPE : -errno;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count && ngot < MAX_PASSED; i++)
			memcpy(&got[ngot++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	if (n == 0) {
		close_all(got, ngot);
		return -EPIPE;
	}
	/* expected outside 1..3 (a header claiming more than any message uses):
	 * the passing is taken off the channel so it stays in step, then
	 * refused. */
	if ((msg.msg_flags & MSG_CTRUNC) || expected < 1 || expected > 3 || ngot != expected ||
	    byte != (unsigned char)expected) {
		close_all(got, ngot);
		return -EBADMSG;
	}
	memcpy(fds, got, sizeof(int) * (size_t)expected);
	return 0;
}

int fdchan_send(int sock, const int *fds, int n)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 3)];
		struct cmsghdr align;
	} control;
	unsigned char byte = (unsigned char)n;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n),
	};
	ssize_t sent;

	if (n < 1 || n > 3)
		return -EINVAL;
	memset(control.buf, 0, sizeof control.buf);
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (!c)
		return -EINVAL;
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n);

	do
		sent = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (sent < 0 && errno == EINTR);
	if (sent < 0)
		return -errno;
	return sent == 1 ? 0 : -EIO;
}
