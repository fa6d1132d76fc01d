/* The child side of the setup (see child.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "child.h"
#include "creds.h"
#include "fail.h"
#include "instance.h"
#include "setup_msg.h"

static __attribute__((noreturn)) void exec_failed(const char *program, int via_fd)
{
	int err = errno;

	if (err == ENOENT && via_fd)
		/* The file itself was opened already, so it is the ELF loader or a
		 * #! interpreter that is missing inside the root. */
		logmsg("exec %s: %m (its loader or interpreter is missing)", program);
	else
		logmsg("exec %s: %m", program);
	_exit(exit_for_exec_errno(err));
}

/* The process that becomes PROGRAM: the forked child, or PID 1 with
 * --new-pid.  Namespaces and credentials are final here. */
static __attribute__((noreturn)) void exec_program(int sync_fd, int prog_fd,
						   const struct options *opt,
						   const sigset_t *orig_mask)
{
	if (opt->instance_root) {
		setup_instance(opt);
	} else if (opt->root) {
		/* Resolved with the new credentials: a root the mapped uid cannot
		 * reach is refused rather than entered with host-root rights. */
		if (chdir(opt->root) != 0)
			die("chdir %s: %m", opt->root);
		if (chroot(".") != 0)
			die("chroot %s: %m", opt->root);
		if (chdir("/") != 0)
			die("chdir / in %s: %m", opt->root);
	}
	if (opt->cwd && chdir(opt->cwd) != 0)
		die("chdir %s: %m", opt->cwd);

	/* About to exec.  For PID 1 a successful send is also the proof that
	 * the supervisor was alive after our parent-death signal was armed (its
	 * end closes before its death signals go out), so it cannot have died
	 * unnoticed in between. */
	if (msg_send(sync_fd, MSG_READY, 0) != 0)
		die("the supervisor went away during setup");
	close(sync_fd);

	sigprocmask(SIG_SETMASK, orig_mask, NULL);
	if (prog_fd >= 0)
		execveat(prog_fd, "", opt->argv, environ, AT_EMPTY_PATH);
	else
		execve(opt->argv[0], opt->argv, environ);
	exec_failed(opt->argv[0], prog_fd >= 0);
}

void child_main(int sync_fd, pid_t supervisor, int userns_fd, int prog_fd,
		const struct options *opt, const sigset_t *orig_mask)
{
	int nsflags = CLONE_NEWNS | (opt->new_pid ? CLONE_NEWPID : 0) |
		      (opt->new_uts ? CLONE_NEWUTS : 0) | (opt->new_ipc ? CLONE_NEWIPC : 0);

	die_with_parent(supervisor);
	/* The report channel is the supervisor's, not the program's. */
	if (opt->pid_fd >= 0)
		close(opt->pid_fd);

	if (userns_fd >= 0) {
		if (setns(userns_fd, CLONE_NEWUSER) != 0)
			die("setns(user namespace of pid %d): %m", (int)opt->join_userns);
		close(userns_fd);
		become_inner_root();
		/* The credential change cleared the parent death signal. */
		die_with_parent(supervisor);
		/* After joining: the new namespaces then belong to that user
		 * namespace, so mount/sethostname below are allowed in them. */
		if (unshare(nsflags) != 0)
			die("unshare(0x%x): %m", (unsigned)nsflags);
	} else {
		/* All at once: the other namespaces then belong to the new user
		 * namespace. */
		if (unshare(CLONE_NEWUSER | nsflags) != 0)
			die("unshare(CLONE_NEWUSER|0x%x): %m", (unsigned)nsflags);
		if (msg_send(sync_fd, MSG_UNSHARED, 0) != 0 || msg_wait(sync_fd, MSG_MAPPED) != 0)
			_exit(EXIT_HELPER); /* the supervisor failed and said why */
		become_inner_root();
		die_with_parent(supervisor);
	}

	/* Our mounts must never propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		die("making mounts private: %m");
	if (opt->hostname && sethostname(opt->hostname, strlen(opt->hostname)) != 0)
		die("sethostname %s: %m", opt->hostname);

	if (opt->new_pid) {
		/*
		 * unshare(CLONE_NEWPID) only applies to our children: the next
		 * one is PID 1.  CLONE_PARENT makes it the supervisor's child, so
		 * the supervisor waits for it and signals it directly, and its
		 * death signal fires when the supervisor dies.  A raw clone (like
		 * fork, same stack): we are single-threaded and both sides only
		 * make system calls until they exec or exit.
		 */
		long pid1 = syscall(SYS_clone, (unsigned long)(CLONE_PARENT | SIGCHLD), 0, 0, 0, 0);

		if (pid1 < 0)
			die("clone (PID 1 of the new PID namespace): %m");
		if (pid1 == 0) {
			/* getppid() is 0 from inside the new namespace, so the
			 * usual check is replaced by the MSG_READY send. */
			if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
				die("prctl(PR_SET_PDEATHSIG): %m");
			exec_program(sync_fd, prog_fd, opt, orig_mask);
		}
		_exit(msg_send(sync_fd, MSG_PID1, (int32_t)pid1) == 0 ? 0 : EXIT_HELPER);
	}
	exec_program(sync_fd, prog_fd, opt, orig_mask);
}
