/* Joining cgroups (see cgroup.h). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "cgroup.h"
#include "fail.h"

/* Moves this process into each cgroup (v1: one per controller), before it
 * forks: every process of the program is then born inside. */
void join_cgroups(const char *const *cgroups, size_t n)
{
	char path[PATH_MAX], pid[32];
	int len = snprintf(pid, sizeof pid, "%d\n", (int)getpid());

	for (size_t i = 0; i < n; i++) {
		int n = snprintf(path, sizeof path, "%s/cgroup.procs", cgroups[i]);
		if (n < 0 || (size_t)n >= sizeof path)
			die("--cgroup %s: path too long", cgroups[i]);
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			die("--cgroup: open %s: %m", path);
		if (write(fd, pid, (size_t)len) != len)
			die("--cgroup: join %s: %m", path);
		close(fd);
	}
}
