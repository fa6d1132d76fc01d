/* The forked child: it enters the namespaces, becomes inner root and
 * execs PROGRAM (or, with --new-pid, creates PID 1, which does). */
#ifndef LXSSD_NSEXEC_CHILD_H
#define LXSSD_NSEXEC_CHILD_H

#include <signal.h>
#include <sys/types.h>

#include "args.h"

/* SYNC_FD is the child's end of the setup messages; SUPERVISOR the pid it
 * must die with; USERNS_FD the namespace to join (-1: a new one with OPT's
 * maps); PROG_FD the host PROGRAM opened O_PATH (-1: looked up inside the
 * instance); ORIG_MASK the signal mask PROGRAM gets. */
__attribute__((noreturn)) void child_main(int sync_fd, pid_t supervisor, int userns_fd,
					  int prog_fd, const struct options *opt,
					  const sigset_t *orig_mask);

#endif
