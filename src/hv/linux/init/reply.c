/* Frames out on the control channel (see reply.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "log.h"
#include "proto.h"
#include "reply.h"

static int control = -1;
static int open_ = 1;

void reply_init(int control_fd)
{
	control = control_fd;
}

int reply_channel_open(void)
{
	return open_;
}

void reply_channel_lost(void)
{
	open_ = 0;
}

/* Blocking: the service reads eagerly; a slow one slows init, nothing is
 * dropped.  MSG_NOSIGNAL: a gone peer is EPIPE, not SIGPIPE. */
static void send_frame(struct proto_writer *w)
{
	size_t len = proto_end(w), off = 0;

	if (len == 0) {
		logmsg("internal error: an outgoing frame did not fit");
		return;
	}
	while (open_ && off < len) {
		ssize_t n = send(control, w->buf + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			logmsg("control channel write failed: %m");
			open_ = 0;
			return;
		}
		off += (size_t)n;
	}
}

void reply_error(uint32_t id, int err, uint16_t ref_type, const char *fmt, ...)
{
	uint8_t buf[REPLY_MESSAGE_MAX + 64];
	char message[REPLY_MESSAGE_MAX];
	struct proto_writer w;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	logmsg("ERROR for frame id %u type 0x%x: %s", (unsigned)id, (unsigned)ref_type, message);
	proto_begin(&w, buf, sizeof buf, MSG_ERROR, id, 0);
	proto_put_u32(&w, (uint32_t)err);
	proto_put_u32(&w, ref_type);
	proto_put_str(&w, message, sizeof message);
	send_frame(&w);
}

void reply_empty(uint16_t type, uint32_t id)
{
	uint8_t buf[PROTO_HEADER_SIZE];
	struct proto_writer w;

	proto_begin(&w, buf, sizeof buf, type, id, 0);
	send_frame(&w);
}

void reply_hello_ack(uint32_t id, uint32_t version, pid_t pid)
{
	uint8_t buf[64];
	struct proto_writer w;

	proto_begin(&w, buf, sizeof buf, MSG_HELLO_ACK, id, 0);
	proto_put_u32(&w, version);
	proto_put_u32(&w, (uint32_t)pid);
	send_frame(&w);
}

void reply_launched(uint32_t id, pid_t pid, int with_master)
{
	uint8_t buf[64];
	struct proto_writer w;

	proto_begin(&w, buf, sizeof buf, MSG_LAUNCHED, id, with_master ? 1 : 0);
	proto_put_u32(&w, (uint32_t)pid);
	send_frame(&w);
}

void reply_launch_failed(uint32_t id, const struct launch_failure *f)
{
	uint8_t buf[sizeof f->message + 64];
	struct proto_writer w;

	proto_begin(&w, buf, sizeof buf, MSG_LAUNCH_FAILED, id, 0);
	proto_put_u32(&w, (uint32_t)f->exit_code);
	proto_put_u32(&w, (uint32_t)f->err);
	proto_put_str(&w, f->message, sizeof f->message);
	send_frame(&w);
}

void reply_exited(uint32_t id, pid_t pid, int status)
{
	uint8_t buf[64];
	struct proto_writer w;
	int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;

	proto_begin(&w, buf, sizeof buf, MSG_EXITED, id, 0);
	proto_put_u32(&w, (uint32_t)pid);
	proto_put_u32(&w, (uint32_t)(sig ? 128 + sig : WEXITSTATUS(status)));
	proto_put_u32(&w, (uint32_t)sig);
	send_frame(&w);
}
