/* The supervisor: the helper's first process, which stays while PROGRAM
 * runs.  It writes the child's id maps, reports PROGRAM's host pid, then
 * forwards signals to PROGRAM and exits with its status. */
#ifndef LXSSD_NSEXEC_SUPERVISOR_H
#define LXSSD_NSEXEC_SUPERVISOR_H

#include <signal.h>
#include <sys/types.h>

#include "args.h"

/* CHILD is the forked child, SYNC_FD the supervisor's end of the setup
 * messages, WAITSET the blocked signals it forwards (and SIGCHLD).  Exits
 * with PROGRAM's status, or the child's if the setup failed. */
__attribute__((noreturn)) void supervise(pid_t child, int sync_fd, const struct options *opt,
					 const sigset_t *waitset);

#endif
