/*
 * lxssd-nsexec: run one program in a fresh user + mount namespace with id maps
 * chosen by the service, optionally chrooted.
 *
 *   lxssd-nsexec --uid-map "INNER OUTER COUNT[,...]" --gid-map "..." \
 *                [--root DIR] [--cwd DIR] -- PROGRAM [ARGS...]
 *
 * The service (host root) runs this instead of unshare(1)/setpriv(1) because
 * util-linux insists on /etc/subuid via newuidmap, and getting the credential
 * dance right with those tools is easy to get wrong (see FACTS.md).
 *
 * Process layout: this process stays as a tiny supervisor (forwards signals,
 * reports the exit status); a forked child unshares, waits for the maps, drops
 * to inner root and execs PROGRAM.  stdio is inherited by the child untouched,
 * so bulk data (tar streams) never passes through the supervisor.
 *
 * Exit status: the program's status, 128+N if it died of signal N,
 * 127 program not found, 126 program not executable,
 * 125 the helper itself failed before exec.
 *
 * PROGRAM must be an absolute host path to a binary that can run inside the
 * root: a static ELF, or a dynamic one whose loader exists inside DIR.  It is
 * opened O_PATH before the chroot and executed through that descriptor, so it
 * need not exist inside DIR.  #! scripts do not work: the kernel would hand the
 * interpreter a /dev/fd/N path for a close-on-exec descriptor.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXIT_HELPER 125
#define EXIT_NOEXEC 126
#define EXIT_NOTFOUND 127

/* The kernel rejects a uid_map/gid_map write of PAGE_SIZE bytes or more, and
 * (since 4.15) more than 340 lines.  4096 is the smallest page size. */
#define MAP_TEXT_MAX 4096
#define MAP_ENTRIES_MAX 340

struct idmap_entry {
	uint64_t inner, outer, count;
};

struct idmap {
	const char *name; /* "uid" or "gid", for messages */
	struct idmap_entry entries[MAP_ENTRIES_MAX];
	size_t n;
	char text[MAP_TEXT_MAX]; /* what is written to /proc/PID/?id_map */
	size_t text_len;
};

struct options {
	const char *uid_map_arg, *gid_map_arg, *root, *cwd;
	char **argv; /* PROGRAM [ARGS...], NULL-terminated (points into main's argv) */
};

/*
 * The one logging helper.  Formats a whole line (so concurrent writers do not
 * interleave mid-line) and writes it with one write(2).  errno is preserved on
 * entry for "%m" and restored on exit, so callers can log and then still look
 * at errno (e.g. to pick 126 vs 127).
 */
static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logmsg(const char *fmt, ...)
{
	int saved = errno;
	char line[1024];
	int prefix = snprintf(line, sizeof line, "lxssd-nsexec: ");
	va_list ap;

	va_start(ap, fmt);
	errno = saved;
	int body = vsnprintf(line + prefix, sizeof line - (size_t)prefix - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)prefix + (body < 0 ? 0 : (size_t)body);
	if (len > sizeof line - 2)
		len = sizeof line - 2; /* truncated: still end with a newline */
	line[len++] = '\n';
	if (write(STDERR_FILENO, line, len) < 0) {
		/* Nothing sensible left to report to. */
	}
	errno = saved;
}

/* _exit everywhere: there is no buffered stdio to flush, and the forked child
 * must not run atexit handlers it inherited. */
#define die(...) (logmsg(__VA_ARGS__), _exit(EXIT_HELPER))

static __attribute__((noreturn)) void usage_error(const char *why)
{
	logmsg("%s", why);
	logmsg("usage: lxssd-nsexec --uid-map \"INNER OUTER COUNT[,...]\" --gid-map \"...\" "
	       "[--root DIR] [--cwd DIR] -- PROGRAM [ARGS...]");
	_exit(EXIT_HELPER);
}

/* Strict unsigned decimal: at least one digit, at most UINT32_MAX. */
static const char *parse_u32(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return NULL;
		p++;
	}
	if (p == s)
		return NULL;
	*out = v;
	return p;
}

static int ranges_overlap(uint64_t a, uint64_t b, uint64_t count_a, uint64_t count_b)
{
	return a < b + count_b && b < a + count_a;
}

/*
 * "INNER OUTER COUNT[,INNER OUTER COUNT...]", fields separated by single
 * spaces.  We validate what the kernel would reject anyway (overlaps, wrap
 * past 2^32, size) so the caller gets a clear message instead of EINVAL.
 * Nothing is ever added: host 0 is mapped only if the caller said so.
 */
static void parse_idmap(const char *arg, struct idmap *map)
{
	const char *p = arg;
	int has_root = 0;

	map->n = 0;
	map->text_len = 0;
	for (;;) {
		struct idmap_entry e;

		if (map->n == MAP_ENTRIES_MAX)
			die("--%s-map: more than %d entries", map->name, MAP_ENTRIES_MAX);
		if (!(p = parse_u32(p, &e.inner)) || *p++ != ' ' ||
		    !(p = parse_u32(p, &e.outer)) || *p++ != ' ' ||
		    !(p = parse_u32(p, &e.count)) || (*p != ',' && *p != '\0'))
			die("--%s-map: expected \"INNER OUTER COUNT[,...]\" in \"%s\"", map->name, arg);
		if (e.count == 0)
			die("--%s-map: COUNT must be at least 1 in \"%s\"", map->name, arg);
		if (e.inner + e.count > (uint64_t)UINT32_MAX + 1 ||
		    e.outer + e.count > (uint64_t)UINT32_MAX + 1)
			die("--%s-map: range passes 4294967295 in \"%s\"", map->name, arg);
		for (size_t i = 0; i < map->n; i++) {
			const struct idmap_entry *o = &map->entries[i];
			if (ranges_overlap(e.inner, o->inner, e.count, o->count) ||
			    ranges_overlap(e.outer, o->outer, e.count, o->count))
				die("--%s-map: ranges overlap in \"%s\"", map->name, arg);
		}
		if (e.inner == 0)
			has_root = 1;

		int n = snprintf(map->text + map->text_len, sizeof map->text - map->text_len,
				 "%llu %llu %llu\n", (unsigned long long)e.inner,
				 (unsigned long long)e.outer, (unsigned long long)e.count);
		if (n < 0 || (size_t)n >= sizeof map->text - map->text_len)
			die("--%s-map: too long for the kernel", map->name);
		map->text_len += (size_t)n;
		map->entries[map->n++] = e;

		if (*p == '\0')
			break;
		p++; /* the ',' */
	}
	/* The child becomes inner 0 before exec; without it setresuid would fail
	 * later with a much less helpful EINVAL. */
	if (!has_root)
		die("--%s-map: inner id 0 must be mapped", map->name);
}

static void parse_args(int argc, char **argv, struct options *opt)
{
	int i = 1;

	memset(opt, 0, sizeof *opt);
	for (;;) {
		const char *a;
		const char **slot;

		if (i >= argc)
			usage_error("missing \"-- PROGRAM\"");
		a = argv[i++];
		if (strcmp(a, "--") == 0)
			break;
		if (strcmp(a, "--uid-map") == 0)
			slot = &opt->uid_map_arg;
		else if (strcmp(a, "--gid-map") == 0)
			slot = &opt->gid_map_arg;
		else if (strcmp(a, "--root") == 0)
			slot = &opt->root;
		else if (strcmp(a, "--cwd") == 0)
			slot = &opt->cwd;
		else {
			logmsg("unknown argument \"%s\"", a);
			usage_error("bad arguments");
		}
		if (*slot) {
			logmsg("%s given twice", a);
			usage_error("bad arguments");
		}
		if (i >= argc || argv[i][0] == '\0') {
			logmsg("%s needs a non-empty value", a);
			usage_error("bad arguments");
		}
		*slot = argv[i++];
	}
	if (i >= argc)
		usage_error("missing PROGRAM after \"--\"");
	if (!opt->uid_map_arg || !opt->gid_map_arg)
		usage_error("--uid-map and --gid-map are required");
	if (argv[i][0] != '/')
		usage_error("PROGRAM must be an absolute host path (no PATH lookup)");
	opt->argv = &argv[i];
}

/* Parent side: write one map in a single write(2), as the kernel requires. */
static int write_map(pid_t child, const struct idmap *map)
{
	char path[64];
	int fd, ok;

	snprintf(path, sizeof path, "/proc/%d/%s_map", (int)child, map->name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		logmsg("open %s: %m", path);
		return -1;
	}
	ok = write(fd, map->text, map->text_len) == (ssize_t)map->text_len;
	if (!ok)
		logmsg("write %s: %m", path);
	close(fd);
	return ok ? 0 : -1;
}

/* One byte over the socketpair: "unshared" (child -> parent), "maps written"
 * (parent -> child).  EOF means the other side died.  MSG_NOSIGNAL: a dead
 * peer must give EPIPE, not kill us with SIGPIPE. */
static int sync_send(int fd)
{
	char c = 'x';
	ssize_t n;

	do
		n = send(fd, &c, 1, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -1;
}

static int sync_wait(int fd)
{
	char c;
	ssize_t n;

	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -1;
}

/* Parent death signal, then verify the parent did not die before it was set
 * (in which case it would never fire). */
static void die_with_parent(pid_t expected_parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
		die("prctl(PR_SET_PDEATHSIG): %m");
	if (getppid() != expected_parent)
		die("parent exited during setup");
}

static __attribute__((noreturn)) void child_exec(int sync_fd, pid_t supervisor, int prog_fd,
						 const struct options *opt,
						 const sigset_t *orig_mask)
{
	int err;

	die_with_parent(supervisor);

	/* Both at once: the mount namespace is then owned by the new user
	 * namespace, so chroot/mount below are allowed there. */
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
		die("unshare(CLONE_NEWUSER|CLONE_NEWNS): %m");
	if (sync_send(sync_fd) != 0 || sync_wait(sync_fd) != 0)
		_exit(EXIT_HELPER); /* the supervisor failed and said why */
	close(sync_fd);

	/* Become inner root for real.  Until now our kernel ids are still host
	 * 0 (shown as the overflow id inside): a program exec'd like that would
	 * own its files as host root.  Groups too: a kept supplementary host
	 * group 0 would still open group-root files on the host. */
	if (setresgid(0, 0, 0) != 0)
		die("setresgid(0): %m");
	if (setgroups(0, NULL) != 0)
		die("setgroups(0): %m");
	if (setresuid(0, 0, 0) != 0)
		die("setresuid(0): %m");
	/* The credential change cleared the parent death signal: set it again. */
	die_with_parent(supervisor);

	/* Our mounts must never propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		die("making mounts private: %m");
	if (opt->root) {
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

	sigprocmask(SIG_SETMASK, orig_mask, NULL);
	execveat(prog_fd, "", opt->argv, environ, AT_EMPTY_PATH);
	err = errno;
	if (err == ENOENT)
		/* The file itself was opened already, so it is the ELF loader or a
		 * #! interpreter that is missing inside the root. */
		logmsg("exec %s: %m (its loader or interpreter is missing)", opt->argv[0]);
	else
		logmsg("exec %s: %m", opt->argv[0]);
	_exit(err == ENOENT ? EXIT_NOTFOUND : err == EACCES ? EXIT_NOEXEC : EXIT_HELPER);
}

static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return EXIT_HELPER;
}

/* Reap the child and exit with its status; used on every parent exit path
 * once the child exists, so it is never left behind. */
static __attribute__((noreturn)) void reap_and_exit(pid_t child, int kill_first)
{
	int status;

	if (kill_first)
		kill(child, SIGKILL);
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid: %m");
	_exit(kill_first ? EXIT_HELPER : exit_code(status));
}

/* The supervisor keeps copies of stdin/stdout only by accident of fork.
 * Drop them, so the service sees EOF / EPIPE as soon as the program closes
 * its ends, not only once we exit. */
static void release_stdio(void)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null < 0)
		return; /* harmless to keep them */
	dup2(null, STDIN_FILENO);
	dup2(null, STDOUT_FILENO);
	close(null);
}

static __attribute__((noreturn)) void supervise(pid_t child, const sigset_t *waitset)
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
			reap_and_exit(child, 1);
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

int main(int argc, char **argv)
{
	struct options opt;
	static struct idmap uid_map = { .name = "uid" }, gid_map = { .name = "gid" };
	sigset_t waitset, orig_mask;
	int sv[2], prog_fd;
	pid_t parent, self, child;

	/* Writing arbitrary maps needs host CAP_SETUID/CAP_SETGID; fail early
	 * and clearly rather than with EPERM halfway through. */
	if (geteuid() != 0)
		die("must run as root (the service runs it as host root)");

	parse_args(argc, argv, &opt);
	parse_idmap(opt.uid_map_arg, &uid_map);
	parse_idmap(opt.gid_map_arg, &gid_map);

	/* Die with the service.  Node spawns from its main thread, and the
	 * death signal fires when the spawning thread exits, so this holds. */
	parent = getppid();
	die_with_parent(parent);

	/* Resolve PROGRAM on the host now; after chroot the path is gone. */
	prog_fd = open(opt.argv[0], O_PATH | O_CLOEXEC);
	if (prog_fd < 0) {
		logmsg("open %s: %m", opt.argv[0]);
		_exit(errno == ENOENT || errno == ENOTDIR ? EXIT_NOTFOUND
		      : errno == EACCES		      ? EXIT_NOEXEC
							      : EXIT_HELPER);
	}

	/* An inherited SIG_IGN for SIGCHLD would make the kernel auto-reap the
	 * child and lose its status. */
	signal(SIGCHLD, SIG_DFL);

	/* Block the forwarded signals before fork, so one that arrives before
	 * the child exists stays pending and is forwarded, not lost or fatal.
	 * The child restores the original mask right before exec. */
	sigemptyset(&waitset);
	sigaddset(&waitset, SIGTERM);
	sigaddset(&waitset, SIGINT);
	sigaddset(&waitset, SIGHUP);
	sigaddset(&waitset, SIGQUIT);
	sigaddset(&waitset, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &waitset, &orig_mask) != 0)
		die("sigprocmask: %m");

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		die("socketpair: %m");

	self = getpid();
	child = fork();
	if (child < 0)
		die("fork: %m");
	if (child == 0) {
		close(sv[0]);
		child_exec(sv[1], self, prog_fd, &opt, &orig_mask);
	}
	close(sv[1]);
	close(prog_fd);

	/* The child has unshared once it says so; only then do its map files
	 * belong to the new namespace.  EOF: it failed and said why. */
	if (sync_wait(sv[0]) != 0)
		reap_and_exit(child, 0);
	/* Exactly the caller's lines.  setgroups is left at "allow": we are
	 * privileged in the parent namespace, and the child needs setgroups(). */
	if (write_map(child, &uid_map) != 0 || write_map(child, &gid_map) != 0)
		reap_and_exit(child, 1);
	if (sync_send(sv[0]) != 0)
		reap_and_exit(child, 0);
	close(sv[0]);

	release_stdio();
	supervise(child, &waitset);
}
