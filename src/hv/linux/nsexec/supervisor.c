/* The supervisor (see supervisor.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fail.h"
#include "idmap.h"
#include "setup_msg.h"
#include "supervisor.h"

static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return EXIT_HELPER;
}

static int wait_exit(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* Reaps PID and exits with its status; on every supervisor exit path once
 * the child exists, so it is never left behind. */
static __attribute__((noreturn)) void reap_and_exit(pid_t pid)
{
	int status;

	if (wait_exit(pid, &status) != 0)
		die("waitpid: %m");
	_exit(exit_code(status));
}

/* The setup went wrong on our side: kill PID, reap it, exit 125. */
static __attribute__((noreturn)) void kill_and_exit(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	if (wait_exit(pid, &status) != 0)
		die("waitpid: %m");
	_exit(EXIT_HELPER);
}

/*
 * Supervisor side of the setup: writes the maps when asked, learns PID 1's
 * host pid, and returns the pid of the process that is about to become
 * PROGRAM.  If that process (or the child before it) fails, it said why and
 * its exit status becomes ours.
 */
static pid_t handshake(pid_t child, int fd, const struct options *opt)
{
	pid_t target = opt->new_pid ? 0 : child;
	int ready = 0;

	while (!ready || target == 0) {
		struct msg m;
		int status;

		if (msg_recv(fd, &m) != 0)
			reap_and_exit(target ? target : child);
		switch (m.tag) {
		case MSG_UNSHARED:
			/* Only now do the map files belong to the new namespace.
			 * Exactly the caller's lines.  setgroups is left at
			 * "allow": we are privileged in the parent namespace, and
			 * the child needs setgroups(). */
			if (opt->join_userns || write_map(child, &opt->uid_map) != 0 ||
			    write_map(child, &opt->gid_map) != 0)
				kill_and_exit(child);
			if (msg_send(fd, MSG_MAPPED, 0) != 0)
				reap_and_exit(child);
			break;
		case MSG_PID1:
			if (!opt->new_pid || target != 0 || m.value <= 0) {
				logmsg("internal error: unexpected PID 1 report");
				kill_and_exit(child);
			}
			target = m.value;
			/* The child exits right after this report. */
			if (wait_exit(child, &status) != 0)
				logmsg("waitpid: %m");
			break;
		case MSG_READY:
			ready = 1;
			break;
		default:
			logmsg("internal error: unexpected setup message %d", (int)m.tag);
			kill_and_exit(target ? target : child);
		}
	}
	return target;
}

static void report_pid(int fd, pid_t pid)
{
	char line[16];
	int len = snprintf(line, sizeof line, "%d\n", (int)pid);
	ssize_t n;

	do
		n = write(fd, line, (size_t)len);
	while (n < 0 && errno == EINTR);
	/* Not fatal: a caller that stopped listening does not need it. */
	if (n != len)
		logmsg("--pid-fd %d: write: %m", fd);
	close(fd);
}

/* The supervisor keeps copies of the caller's descriptors only by accident
 * of fork.  Drop them (stdin/stdout become /dev/null, stderr stays for our
 * messages), so the service sees EOF / EPIPE as soon as the program closes
 * its ends, not only once we exit. */
static void release_fds(void)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		close(null);
	}
	if (close_range(3, ~0U, 0) != 0)
		for (int fd = 3; fd < 65536; fd++)
			close(fd);
}

static __attribute__((noreturn)) void forward_until_exit(pid_t child, const sigset_t *waitset)
{
	for (;;) {
		siginfo_t info;
		int sig = sigwaitinfo(waitset, &info);
		int status;
		pid_t r;

		if (sig < 0) {
			if (errno == EINTR)
				continue;
			logmsg("sigwaitinfo: %m");
			kill_and_exit(child);
		}
		if (sig != SIGCHLD) {
			kill(child, sig);
			continue;
		}
		/* SIGCHLD also comes for stops/continues: only leave on exit. */
		r = waitpid(child, &status, WNOHANG);
		if (r == child)
			_exit(exit_code(status));
		if (r < 0 && errno != EINTR)
			die("waitpid: %m");
	}
}

void supervise(pid_t child, int sync_fd, const struct options *opt, const sigset_t *waitset)
{
	pid_t target;

	/* Only this process: a --pid-fd reader that went away must give EPIPE,
	 * not kill the supervisor (and with it the program). */
	signal(SIGPIPE, SIG_IGN);

	target = handshake(child, sync_fd, opt);
	close(sync_fd);
	if (opt->pid_fd >= 0)
		report_pid(opt->pid_fd, target);

	release_fds();
	forward_until_exit(target, waitset);
}
