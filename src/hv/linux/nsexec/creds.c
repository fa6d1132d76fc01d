/* Credentials and user namespaces (see creds.h). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "creds.h"
#include "fail.h"

/* Parent death signal, then verify the parent did not die before it was set
 * (in which case it would never fire). */
void die_with_parent(pid_t expected_parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
		die("prctl(PR_SET_PDEATHSIG): %m");
	if (getppid() != expected_parent)
		die("parent exited during setup");
}

/* Become inner root for real.  Until now our kernel ids are still host 0
 * (shown as the overflow id inside): a program exec'd like that would own its
 * files as host root.  Groups too: a kept supplementary host group 0 would
 * still open group-root files on the host. */
void become_inner_root(void)
{
	if (setresgid(0, 0, 0) != 0)
		die("setresgid(0): %m");
	if (setgroups(0, NULL) != 0)
		die("setgroups(0): %m");
	if (setresuid(0, 0, 0) != 0)
		die("setresuid(0): %m");
}

/* The user namespace of PID, opened now: a missing holder is reported here,
 * clearly, and joining our own namespace (a no-op that would leave the
 * program with host-root rights) is refused. */
int open_userns(pid_t pid)
{
	char path[64];
	struct stat ns, own;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("--join-userns %d: open %s: %m (is that process running?)", (int)pid, path);
	if (fstat(fd, &ns) != 0 || stat("/proc/self/ns/user", &own) != 0)
		die("--join-userns %d: stat: %m", (int)pid);
	if (ns.st_dev == own.st_dev && ns.st_ino == own.st_ino)
		die("--join-userns %d: that process is in our own user namespace", (int)pid);
	return fd;
}
