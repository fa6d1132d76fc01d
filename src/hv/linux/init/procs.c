/* The launch table and instance-wide kill (see procs.h).  Small linear
 * tables: an instance runs tens of launched processes, not millions. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procs.h"

static struct proc *procs;
static int nprocs, cap_procs;

/* Groups of every launch, live or reaped, until kill says they are empty.
 * The kernel does not reuse a pid while it names a live process group. */
static pid_t *groups;
static int ngroups, cap_groups;

static int grow(void **array, int *cap, size_t elem)
{
	int ncap = *cap ? *cap * 2 : 16;
	void *p = realloc(*array, (size_t)ncap * elem);

	if (!p)
		return -ENOMEM;
	*array = p;
	*cap = ncap;
	return 0;
}

int procs_add(uint32_t id, pid_t pid, int pty_master)
{
	if (nprocs == cap_procs && grow((void **)&procs, &cap_procs, sizeof *procs) != 0)
		return -ENOMEM;
	if (ngroups == cap_groups && grow((void **)&groups, &cap_groups, sizeof *groups) != 0)
		return -ENOMEM;
	procs[nprocs++] = (struct proc){ .id = id, .pid = pid, .pty_master = pty_master };
	groups[ngroups++] = pid;
	return 0;
}

struct proc *procs_by_id(uint32_t id)
{
	for (int i = 0; i < nprocs; i++)
		if (procs[i].id == id)
			return &procs[i];
	return NULL;
}

struct proc *procs_by_pid(pid_t pid)
{
	for (int i = 0; i < nprocs; i++)
		if (procs[i].pid == pid)
			return &procs[i];
	return NULL;
}

void procs_forget_empty_groups(void)
{
	for (int i = 0; i < ngroups;) {
		if (kill(-groups[i], 0) != 0 && errno == ESRCH)
			groups[i] = groups[--ngroups];
		else
			i++;
	}
}

void procs_remove(struct proc *p)
{
	if (p->pty_master >= 0)
		close(p->pty_master);
	*p = procs[--nprocs];
}

int procs_count(void)
{
	return nprocs;
}

/* Orphans that reparented to us as subreaper.  /proc may be missing (a bare
 * chroot in tests): then process groups are all we can reach. */
static void kill_children(int sig)
{
	char path[64], buf[4096];
	FILE *f;

	snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
	f = fopen(path, "re");
	if (!f)
		return;
	while (fscanf(f, "%4095s", buf) == 1) {
		char *end;
		long pid = strtol(buf, &end, 10);
		if (*end == '\0' && pid > 1)
			kill((pid_t)pid, sig);
	}
	fclose(f);
}

void procs_kill_all(int sig)
{
	if (getpid() == 1) {
		kill(-1, sig);
		return;
	}
	for (int i = 0; i < ngroups; i++)
		kill(-groups[i], sig);
	procs_forget_empty_groups();
	for (int i = 0; i < nprocs; i++)
		kill(procs[i].pid, sig);
	kill_children(sig);
}
