/*
 * One launch: resolve the user, open a pty if asked, fork, and exec in the
 * child with exactly the given argv and environment.  The caller learns
 * whether exec happened before this returns (a close-on-exec status pipe).
 */
#ifndef LXSSD_INIT_SPAWN_H
#define LXSSD_INIT_SPAWN_H

#include <sys/types.h>

#include "proto.h"

/* Exit codes a launch that never ran reports (docs/init-protocol.md). */
#define EXIT_USER_NOT_FOUND 67 /* WSL's LX_INIT_USER_NOT_FOUND */
#define EXIT_LAUNCH_SETUP 125  /* pty, fork, stdio, credentials or cwd failed */
#define EXIT_NOT_EXECUTABLE 126
#define EXIT_NOT_FOUND 127

struct launch_failure {
	int exit_code;
	int err;
	char message[512];
};

struct spawn_options {
	const char *passwd_path, *group_path;
	/* Not PID 1: launched children get a parent-death SIGKILL, so they
	 * cannot outlive an init that is killed outright. */
	int parent_death;
};

/*
 * Starts req.  stdio holds the three descriptors of pipes mode (ignored in
 * pty mode; the caller keeps ownership).  Returns the child's pid, with
 * *master set to the pty master (close-on-exec) in pty mode, else -1.  On
 * failure returns -1 with *fail filled; nothing is left running or open.
 */
pid_t spawn_launch(const struct req_launch *req, const int stdio[3], const struct spawn_options *opt,
		   int *master, struct launch_failure *fail);

#endif
