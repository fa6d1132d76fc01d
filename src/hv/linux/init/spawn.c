/*
 * fork/exec of one launch (see spawn.h).
 *
 * Order in the child: setsid, controlling tty (pty mode), stdio, setgroups,
 * setgid, setuid, parent-death signal, chdir, exec.  A failing step writes
 * {stage, errno} to the status pipe and _exits; a successful exec closes the
 * pipe (close-on-exec), so the parent reads either 8 bytes or EOF.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "passwd.h"
#include "spawn.h"

enum stage {
	ST_SETSID = 1,
	ST_TTY,
	ST_STDIO,
	ST_GROUPS,
	ST_GID,
	ST_UID,
	ST_PDEATH,
	ST_CHDIR,
	ST_EXEC,
};

struct status_report {
	int32_t stage;
	int32_t err;
};

/* PATH when the launch's environment has none: glibc's execvpe default. */
#define DEFAULT_PATH "/bin:/usr/bin"

static const char *stage_name(int stage)
{
	switch (stage) {
	case ST_SETSID:
		return "setsid";
	case ST_TTY:
		return "making the pty the controlling terminal";
	case ST_STDIO:
		return "setting up stdio";
	case ST_GROUPS:
		return "setgroups";
	case ST_GID:
		return "setgid";
	case ST_UID:
		return "setuid";
	case ST_PDEATH:
		return "parent-death signal";
	default:
		return "setup";
	}
}

static __attribute__((noreturn)) void child_fail(int status_fd, int stage)
{
	struct status_report rep = { .stage = stage, .err = errno };

	if (write(status_fd, &rep, sizeof rep) < 0) {
		/* The parent then sees EOF and a child that exited 125: it reports
		 * the exit status it reaps. */
	}
	_exit(stage == ST_EXEC ? EXIT_NOT_EXECUTABLE : EXIT_LAUNCH_SETUP);
}

static const char *env_get(char **env, const char *name)
{
	size_t n = strlen(name);

	for (; *env; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

/* The file a launch executes: its executable field, else argv[0]. */
static const char *program_of(const struct req_launch *req)
{
	return req->executable ? req->executable : req->argv[0];
}

/*
 * execve of file with argv (argv[0] may differ from file: a login shell's
 * "-sh"), or for a file without '/' the search execvpe does, with PATH from
 * the launch's own environment and no /bin/sh fallback on ENOEXEC.  Returns
 * only on failure, with errno set: EACCES if some candidate was found but
 * not executable, else ENOENT, or the first error that ends the search.
 */
static void exec_program(const char *file, char **argv, char **env)
{
	const char *path;
	size_t flen = strlen(file);
	int seen_eacces = 0;

	if (strchr(file, '/')) {
		execve(file, argv, env);
		return;
	}
	path = env_get(env, "PATH");
	if (!path)
		path = DEFAULT_PATH;
	for (const char *p = path;; p++) {
		const char *end = strchrnul(p, ':');
		size_t dlen = (size_t)(end - p);
		char candidate[PATH_MAX];

		if (dlen + 1 + flen < sizeof candidate) {
			/* An empty element is the current directory. */
			if (dlen == 0) {
				memcpy(candidate, file, flen + 1);
			} else {
				memcpy(candidate, p, dlen);
				candidate[dlen] = '/';
				memcpy(candidate + dlen + 1, file, flen + 1);
			}
			execve(candidate, argv, env);
			switch (errno) {
			case EACCES:
				seen_eacces = 1;
				break;
			case ENOENT:
			case ENOTDIR:
			case ESTALE:
			case ENODEV:
			case ETIMEDOUT:
				break;
			default:
				return;
			}
		}
		if (*end == '\0')
			break;
		p = end;
	}
	errno = seen_eacces ? EACCES : ENOENT;
}

/* Unprivileged (a test running init as a normal user): only the identity we
 * already have is possible, and setgroups then fails with EPERM. */
static int already(const struct account *a)
{
	return getuid() == a->uid && geteuid() == a->uid && getgid() == a->gid && getegid() == a->gid;
}

static __attribute__((noreturn)) void child_run(const struct req_launch *req, const int stdio[3],
						 int slave, const struct account *a,
						 const struct spawn_options *opt, pid_t init_pid,
						 int status_fd)
{
	int src[3];
	sigset_t none;

	/* init blocks everything and reads signals from a signalfd; the
	 * program starts with nothing blocked.  Dispositions are already the
	 * defaults (init reset them at start and installs no handlers). */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	if (setsid() < 0)
		child_fail(status_fd, ST_SETSID);
	if (req->mode == LAUNCH_PTY && ioctl(slave, TIOCSCTTY, 0) != 0)
		child_fail(status_fd, ST_TTY);

	/* Lift every source above 2 first, so a dup2 never overwrites a source
	 * still to be used, and dup2 always makes a new (inheritable) copy. */
	for (int i = 0; i < 3; i++) {
		src[i] = req->mode == LAUNCH_PTY ? slave : stdio[i];
		if (src[i] < 3 && (src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3)) < 0)
			child_fail(status_fd, ST_STDIO);
	}
	for (int i = 0; i < 3; i++)
		if (dup2(src[i], i) < 0)
			child_fail(status_fd, ST_STDIO);

	if (setgroups(a->ngroups, a->groups) != 0 && !(errno == EPERM && already(a)))
		child_fail(status_fd, ST_GROUPS);
	if (setresgid(a->gid, a->gid, a->gid) != 0)
		child_fail(status_fd, ST_GID);
	if (setresuid(a->uid, a->uid, a->uid) != 0)
		child_fail(status_fd, ST_UID);
	/* After the last credential change, which would clear it. */
	if (opt->parent_death &&
	    (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != init_pid))
		child_fail(status_fd, ST_PDEATH);

	/* As the user: a home it cannot enter falls back to /, a cwd it asked
	 * for does not. */
	if (req->cwd) {
		if (chdir(strcmp(req->cwd, "~") == 0 ? a->home : req->cwd) != 0)
			child_fail(status_fd, ST_CHDIR);
	} else if (chdir(a->home) != 0 && chdir("/") != 0) {
		child_fail(status_fd, ST_CHDIR);
	}

	exec_program(program_of(req), req->argv, req->env);
	child_fail(status_fd, ST_EXEC);
}

/*
 * The child runs in init's memory (CLONE_VM | CLONE_VFORK), on a stack of its
 * own, until it execs or exits: no page tables are copied, whatever init has
 * touched, and init waits for it anyway (the status pipe).  So it only makes
 * system calls and writes its own stack; it shares no signal handlers (init
 * has none, and CLONE_SIGHAND is not given).  One stack will do: init is
 * suspended while a child uses it.
 */
static char child_stack[64 * 1024] __attribute__((aligned(16)));

struct child_args {
	const struct req_launch *req;
	const int *stdio;
	int slave;
	const struct account *acct;
	const struct spawn_options *opt;
	pid_t init_pid;
	int status_read, status_write;
};

static int child_entry(void *arg)
{
	const struct child_args *a = arg;

	close(a->status_read);
	child_run(a->req, a->stdio, a->slave, a->acct, a->opt, a->init_pid, a->status_write);
}

static pid_t failed(struct launch_failure *fail, int exit_code, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static pid_t failed(struct launch_failure *fail, int exit_code, int err, const char *fmt, ...)
{
	va_list ap;

	fail->exit_code = exit_code;
	fail->err = err;
	va_start(ap, fmt);
	vsnprintf(fail->message, sizeof fail->message, fmt, ap);
	va_end(ap);
	return -1;
}

/* A pty pair sized cols x rows; both ends close-on-exec.  0 or -errno. */
static int open_pty(uint32_t cols, uint32_t rows, int *master, int *slave, const char **what)
{
	struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
	int m, s, err;

	/* The distribution's own /dev/ptmx (its devpts instance). */
	*what = "open /dev/ptmx";
	m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return -errno;
	*what = "unlockpt";
	if (grantpt(m) != 0 || unlockpt(m) != 0)
		goto fail;
	/* TIOCGPTPEER opens the slave through the master, with no path lookup
	 * that a mount or a chroot could redirect; ptsname is the fallback for
	 * kernels before 4.13. */
	*what = "open the pty slave";
	s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0 && (errno == EINVAL || errno == ENOTTY)) {
		char name[64];
		if (ptsname_r(m, name, sizeof name) != 0)
			goto fail;
		s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	}
	if (s < 0)
		goto fail;
	*what = "TIOCSWINSZ";
	if (ioctl(m, TIOCSWINSZ, &ws) != 0) {
		err = errno;
		close(s);
		errno = err;
		goto fail;
	}
	*master = m;
	*slave = s;
	return 0;
fail:
	err = errno;
	close(m);
	return -err;
}

static void describe_child_failure(const struct req_launch *req, const struct account *a,
				   const struct status_report *rep, struct launch_failure *fail)
{
	int err = rep->err;

	if (rep->stage == ST_EXEC) {
		int notfound = err == ENOENT || err == ENOTDIR || err == ENAMETOOLONG || err == ELOOP;
		failed(fail, notfound ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE, err, "exec %s: %s",
		       program_of(req), strerror(err));
	} else if (rep->stage == ST_CHDIR) {
		const char *dir = !req->cwd ? "/" : strcmp(req->cwd, "~") == 0 ? a->home : req->cwd;
		failed(fail, EXIT_LAUNCH_SETUP, err, "chdir %s: %s", dir, strerror(err));
	} else {
		failed(fail, EXIT_LAUNCH_SETUP, err, "%s: %s", stage_name(rep->stage), strerror(err));
	}
}

pid_t spawn_launch(const struct req_launch *req, const int stdio[3], const struct spawn_options *opt,
		   int *master, struct launch_failure *fail)
{
	struct account acct;
	struct status_report rep;
	int m = -1, s = -1, status_pipe[2];
	pid_t pid, self = getpid();
	ssize_t n;
	int r;

	*master = -1;
	if (req->user)
		r = account_by_name(opt->passwd_path, opt->group_path, req->user, &acct, fail->message,
				    sizeof fail->message);
	else
		r = account_by_uid(opt->passwd_path, opt->group_path,
				   req->uid == PROTO_NO_UID ? 0 : req->uid, &acct, fail->message,
				   sizeof fail->message);
	if (r != 0) {
		fail->exit_code = r == -ENOENT ? EXIT_USER_NOT_FOUND : EXIT_LAUNCH_SETUP;
		fail->err = -r;
		return -1;
	}

	if (req->mode == LAUNCH_PTY) {
		const char *what;
		r = open_pty(req->cols, req->rows, &m, &s, &what);
		if (r != 0) {
			account_free(&acct);
			return failed(fail, EXIT_LAUNCH_SETUP, -r, "cannot open a pty: %s: %s", what,
				      strerror(-r));
		}
	}
	if (pipe2(status_pipe, O_CLOEXEC) != 0) {
		failed(fail, EXIT_LAUNCH_SETUP, errno, "pipe: %m");
		goto out;
	}

	{
		struct child_args args = { req, stdio, s, &acct, opt, self, status_pipe[0],
					   status_pipe[1] };

		pid = clone(child_entry, child_stack + sizeof child_stack,
			    CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
	}
	if (pid < 0) {
		failed(fail, EXIT_LAUNCH_SETUP, errno, "fork: %m");
		close(status_pipe[0]);
		close(status_pipe[1]);
		goto out;
	}
	close(status_pipe[1]);

	do
		n = read(status_pipe[0], &rep, sizeof rep);
	while (n < 0 && errno == EINTR);
	close(status_pipe[0]);
	if (n != 0) {
		/* The child never reached exec (or the report is garbled): reap it
		 * here, it never becomes a launched process. */
		int status;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
		}
		if (n == (ssize_t)sizeof rep)
			describe_child_failure(req, &acct, &rep, fail);
		else
			failed(fail, EXIT_LAUNCH_SETUP, EIO, "the launch failed before exec");
		goto out;
	}

	if (s >= 0)
		close(s);
	account_free(&acct);
	*master = m;
	return pid;

out:
	if (s >= 0)
		close(s);
	if (m >= 0)
		close(m);
	account_free(&acct);
	return -1;
}
