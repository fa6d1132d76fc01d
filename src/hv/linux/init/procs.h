/*
 * The processes init launched and has not yet reported as exited, and the
 * process groups they started (which may outlive them).  Also: ending them.
 */
#ifndef LXSSD_INIT_PROCS_H
#define LXSSD_INIT_PROCS_H

#include <stdint.h>
#include <sys/types.h>

struct proc {
	uint32_t id; /* launch id, never 0 */
	pid_t pid;   /* also its process group and session: it called setsid */
	int pty_master; /* init's copy for RESIZE, or -1 */
};

/* 0, or -ENOMEM. */
int procs_add(uint32_t id, pid_t pid, int pty_master);
struct proc *procs_by_id(uint32_t id);
struct proc *procs_by_pid(pid_t pid);
/* Closes the pty master; the process group stays known for procs_kill_all. */
void procs_remove(struct proc *p);

/*
 * Forgets process groups with no member left.  Call it after reaping: a
 * group's id cannot be reused while a member (even a zombie) exists, and as
 * a subreaper init is the one that reaps the last member, so forgetting right
 * after reaping never leaves a recycled id on the list.
 */
void procs_forget_empty_groups(void);
int procs_count(void);

/*
 * Sends sig to everything of the instance.  As PID 1 of a PID namespace:
 * kill(-1), which reaches every process in it.  Otherwise (a subreaper, in
 * tests): every process group a launch started, every launched process, and
 * every child listed in /proc/self/task/PID/children (orphans that reparented
 * to us from other groups).
 */
void procs_kill_all(int sig);

#endif
