/*
 * The frames init sends on the control channel (docs/init-protocol.md §4).
 * A failed write means the service is gone: the channel is then marked lost,
 * later frames are dropped, and the loop ends the instance.
 */
#ifndef LXSSD_INIT_REPLY_H
#define LXSSD_INIT_REPLY_H

#include <stdint.h>
#include <sys/types.h>

#include "spawn.h"

/* Longest human-readable message in an ERROR frame, NUL included. */
#define REPLY_MESSAGE_MAX 1024

void reply_init(int control_fd);
/* 1 until a write failed or reply_channel_lost() was called. */
int reply_channel_open(void);
/* The reader saw EOF or an error. */
void reply_channel_lost(void);

/* ERROR {err, ref_type, message}; also logged, since it means a service bug. */
void reply_error(uint32_t id, int err, uint16_t ref_type, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* OK, MOUNTED, TERMINATED: no payload. */
void reply_empty(uint16_t type, uint32_t id);
void reply_hello_ack(uint32_t id, uint32_t version, pid_t pid);
/* with_master: the pty master was passed on the fd channel just before. */
void reply_launched(uint32_t id, pid_t pid, int with_master);
void reply_launch_failed(uint32_t id, const struct launch_failure *f);
/* EXITED from a waitpid status: the code, or 128+N and N for signal N. */
void reply_exited(uint32_t id, pid_t pid, int status);

#endif
