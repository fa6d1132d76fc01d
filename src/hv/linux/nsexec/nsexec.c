/*
 * lxssd-nsexec: run one program in a fresh user + mount namespace with id maps
 * chosen by the service (or in an existing user namespace), optionally in new
 * PID/UTS/IPC namespaces, chrooted, or as PID 1 of a distribution instance.
 *
 *   lxssd-nsexec (--uid-map "INNER OUTER COUNT[,...]" --gid-map "..." | --join-userns PID)
 *                [--new-pid] [--new-uts] [--new-ipc] [--hostname NAME]
 *                [--root DIR | --instance-root DIR [--bind SRC:DST[:ro]]... [--init-file PATH]]
 *                [--cwd DIR] [--pid-fd N] [--cgroup DIR]... -- PROGRAM [ARGS...]
 *
 * The service (host root) runs this instead of unshare(1)/setpriv(1) because
 * util-linux insists on /etc/subuid via newuidmap, and getting the credential
 * dance right with those tools is easy to get wrong (see FACTS.md).
 *
 * Two uses:
 *  - per-user "VM" (the holder): --uid-map/--gid-map create a user namespace
 *    with the user's mapping; the program (e.g. `busybox sleep 2147483647`)
 *    just keeps it alive.  --pid-fd tells the service the program's host pid,
 *    which is what --join-userns takes.
 *  - distribution instance: --join-userns HOLDER_PID --new-pid --new-uts
 *    --new-ipc --hostname NAME --instance-root DIR [--bind ...] --init-file
 *    AGENT -- /init: the program runs as PID 1 of a new PID namespace with DIR
 *    pivoted to "/" (/proc, /sys, /dev, /run, /tmp set up, see setup_instance).
 *
 * User namespace: with maps, a new one (the maps are written by this process,
 * host root, so any range may be used; inner 0 must be mapped).  With
 * --join-userns, the one of PID: /proc/PID/ns/user is opened before forking
 * (so a dead holder is reported clearly) and joined with setns(2).  Either
 * way the program runs as inner root (uid/gid 0, no supplementary groups):
 * capabilities only inside that namespace, and on host files only the rights
 * of the host ids the map names (root in a user's distro is that user).
 * A mount namespace is always new; --new-pid/--new-uts/--new-ipc add those.
 *
 * Process layout: this process stays as a tiny supervisor (forwards SIGTERM,
 * SIGINT, SIGHUP and SIGQUIT to the program, reports its exit status); a
 * forked child sets up the namespaces, drops to inner root and execs PROGRAM.
 * With --new-pid that child creates PROGRAM's process instead (unshare then
 * clone with CLONE_PARENT, so this supervisor is its parent: it waits for it,
 * signals it, and it dies with it) and exits.  Every process we create has a
 * parent-death signal (SIGKILL), set again after each credential change.
 * stdio and every other descriptor the caller passed (e.g. Node's fds 3, 4)
 * are inherited by PROGRAM untouched; the supervisor drops its own copies, so
 * the caller sees EOF when PROGRAM closes its ends.  Only descriptors this
 * helper opens itself are close-on-exec (and --pid-fd, which is closed).
 *
 * PID 1 (--new-pid): PROGRAM is PID 1 of the new namespace.  When it exits,
 * the kernel kills every other process in the namespace, so exit (or SIGKILL
 * of this supervisor, via the parent-death signal) ends the whole instance.
 * The kernel also shields PID 1 from signals it has no handler for, so a
 * forwarded SIGTERM only ends it if it installed a handler (busybox sh as
 * PID 1 ignores SIGTERM unless it has a trap; SIGKILL always works).
 *
 * --cgroup DIR: before anything else (before it forks), this process moves
 * itself into the cgroup DIR (writes its pid to DIR/cgroup.procs; one
 * --cgroup per v1 controller, or the one v2 group), so PROGRAM and every
 * process it ever starts are counted and limited there: nothing of a VM
 * runs outside its cgroup, not even for a moment.  A failure is exit 125.
 *
 * --pid-fd N: once PROGRAM's process is set up and about to exec, its host
 * pid is written to descriptor N as decimal + "\n", and N is closed (also
 * when the helper fails earlier: EOF without a line).  N is not inherited.
 *
 * Exit status: the program's status, 128+N if it died of signal N,
 * 127 program not found, 126 program not executable,
 * 125 the helper itself failed before exec (the reason is on stderr).
 *
 * PROGRAM must be an absolute path.  Without --instance-root it is a HOST
 * path to a binary that can run inside the root: a static ELF, or a dynamic
 * one whose loader exists inside DIR.  It is opened O_PATH before the chroot
 * and executed through that descriptor, so it need not exist inside DIR;
 * #! scripts do not work there (the kernel would hand the interpreter a
 * /dev/fd/N path for a close-on-exec descriptor).  With --instance-root it is
 * looked up INSIDE the instance after the pivot (e.g. /init or /bin/busybox),
 * like any exec in the distribution.
 *
 * --instance-root DIR, --bind sources and --init-file are resolved with the
 * mapped host ids, so they (and every folder above them) must be reachable
 * by the user on the host; paths inside DIR are resolved as if DIR were "/"
 * (symlinks of the distribution cannot point the mounts outside it).
 *
 * Needs Linux 5.12 or later (openat2, the fd-based mount API with
 * mount_setattr, close_range); Debian 12 ships 6.1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/openat2.h>
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXIT_HELPER 125
#define EXIT_NOEXEC 126
#define EXIT_NOTFOUND 127

/* The kernel rejects a uid_map/gid_map write of PAGE_SIZE bytes or more, and
 * (since 4.15) more than 340 lines.  4096 is the smallest page size. */
#define MAP_TEXT_MAX 4096
#define MAP_ENTRIES_MAX 340

#define BINDS_MAX 64
#define CGROUPS_MAX 8
#define HOSTNAME_MAX 64 /* HOST_NAME_MAX on Linux */
/* Created in the instance root for pivot_root(2) and removed right after. */
#define OLD_ROOT ".lxssd-oldroot"

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

struct bind_spec {
	const char *arg;       /* as given, for messages */
	char source[PATH_MAX]; /* absolute host path */
	char target[PATH_MAX]; /* normalised, relative to the instance root: "mnt/home" */
	int readonly;
};

struct options {
	const char *uid_map_arg, *gid_map_arg, *root, *cwd;
	const char *join_userns_arg, *hostname, *instance_root, *init_file, *pid_fd_arg;
	int new_pid, new_uts, new_ipc;
	pid_t join_userns; /* 0: none */
	int pid_fd;        /* -1: none */
	struct bind_spec binds[BINDS_MAX];
	size_t nbinds;
	const char *cgroups[CGROUPS_MAX];
	size_t ncgroups;
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
	logmsg("usage: lxssd-nsexec (--uid-map \"INNER OUTER COUNT[,...]\" --gid-map \"...\" | "
	       "--join-userns PID) [--new-pid] [--new-uts] [--new-ipc] [--hostname NAME] "
	       "[--root DIR | --instance-root DIR [--bind SRC:DST[:ro]]... [--init-file PATH]] "
	       "[--cwd DIR] [--pid-fd N] [--cgroup DIR]... -- PROGRAM [ARGS...]");
	logmsg("PROGRAM is an absolute host path, or with --instance-root an absolute path "
	       "inside the instance (looked up after the pivot)");
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

/* A whole argument that is a decimal in [min, INT_MAX]. */
static int parse_int_arg(const char *name, const char *s, int min)
{
	uint64_t v;
	const char *end = parse_u32(s, &v);

	if (!end || *end != '\0' || v > INT_MAX || v < (uint64_t)min) {
		logmsg("%s: expected a number from %d, got \"%s\"", name, min, s);
		usage_error("bad arguments");
	}
	return (int)v;
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

/*
 * An absolute path inside the instance, as a relative one without empty or
 * "." components: "/mnt//home/." -> "mnt/home".  ".." is refused outright
 * (lookups are confined to the root anyway, but a target that climbs is a
 * caller bug), and so is "/" itself.
 */
static int normalise_target(const char *in, char *out, size_t size)
{
	size_t len = 0;
	const char *p = in;

	if (*p != '/')
		return -1;
	while (*p) {
		const char *end;
		size_t n;

		while (*p == '/')
			p++;
		end = strchrnul(p, '/');
		n = (size_t)(end - p);
		if (n == 0 || (n == 1 && p[0] == '.')) {
			p = end;
			continue;
		}
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return -1;
		if (len + (len ? 1 : 0) + n + 1 > size)
			return -1;
		if (len)
			out[len++] = '/';
		memcpy(out + len, p, n);
		len += n;
		p = end;
	}
	out[len] = '\0';
	return len ? 0 : -1;
}

/* "SRC:DST" or "SRC:DST:ro"; SRC an absolute host path, neither contains ':'. */
static void parse_bind(const char *arg, struct bind_spec *b)
{
	const char *c1 = strchr(arg, ':');
	const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	size_t src_len = c1 ? (size_t)(c1 - arg) : 0;
	size_t dst_len = c2 ? (size_t)(c2 - c1 - 1) : c1 ? strlen(c1 + 1) : 0;
	char dst[PATH_MAX];

	b->arg = arg;
	if (!c1 || (c2 && strcmp(c2 + 1, "ro") != 0)) {
		logmsg("--bind \"%s\": expected SRC:DST or SRC:DST:ro", arg);
		usage_error("bad arguments");
	}
	b->readonly = c2 != NULL;
	if (src_len == 0 || arg[0] != '/' || src_len >= sizeof b->source) {
		logmsg("--bind \"%s\": SRC must be an absolute host path", arg);
		usage_error("bad arguments");
	}
	memcpy(b->source, arg, src_len);
	b->source[src_len] = '\0';
	if (dst_len >= sizeof dst) {
		logmsg("--bind \"%s\": DST too long", arg);
		usage_error("bad arguments");
	}
	memcpy(dst, c1 + 1, dst_len);
	dst[dst_len] = '\0';
	if (normalise_target(dst, b->target, sizeof b->target) != 0) {
		logmsg("--bind \"%s\": DST must be an absolute path inside the instance, "
		       "below \"/\" and without \"..\"", arg);
		usage_error("bad arguments");
	}
}

static void set_flag(int *flag, const char *name)
{
	if (*flag) {
		logmsg("%s given twice", name);
		usage_error("bad arguments");
	}
	*flag = 1;
}

static void parse_args(int argc, char **argv, struct options *opt)
{
	int i = 1;

	memset(opt, 0, sizeof *opt);
	opt->pid_fd = -1;
	for (;;) {
		const char *a;
		const char **slot;

		if (i >= argc)
			usage_error("missing \"-- PROGRAM\"");
		a = argv[i++];
		if (strcmp(a, "--") == 0)
			break;
		if (strcmp(a, "--new-pid") == 0) {
			set_flag(&opt->new_pid, a);
			continue;
		}
		if (strcmp(a, "--new-uts") == 0) {
			set_flag(&opt->new_uts, a);
			continue;
		}
		if (strcmp(a, "--new-ipc") == 0) {
			set_flag(&opt->new_ipc, a);
			continue;
		}
		if (strcmp(a, "--uid-map") == 0)
			slot = &opt->uid_map_arg;
		else if (strcmp(a, "--gid-map") == 0)
			slot = &opt->gid_map_arg;
		else if (strcmp(a, "--root") == 0)
			slot = &opt->root;
		else if (strcmp(a, "--cwd") == 0)
			slot = &opt->cwd;
		else if (strcmp(a, "--join-userns") == 0)
			slot = &opt->join_userns_arg;
		else if (strcmp(a, "--hostname") == 0)
			slot = &opt->hostname;
		else if (strcmp(a, "--instance-root") == 0)
			slot = &opt->instance_root;
		else if (strcmp(a, "--init-file") == 0)
			slot = &opt->init_file;
		else if (strcmp(a, "--pid-fd") == 0)
			slot = &opt->pid_fd_arg;
		else if (strcmp(a, "--bind") == 0 || strcmp(a, "--cgroup") == 0)
			slot = NULL; /* repeatable */
		else {
			logmsg("unknown argument \"%s\"", a);
			usage_error("bad arguments");
		}
		if (slot && *slot) {
			logmsg("%s given twice", a);
			usage_error("bad arguments");
		}
		if (i >= argc || argv[i][0] == '\0') {
			logmsg("%s needs a non-empty value", a);
			usage_error("bad arguments");
		}
		if (slot) {
			*slot = argv[i++];
			continue;
		}
		if (strcmp(a, "--cgroup") == 0) {
			if (opt->ncgroups == CGROUPS_MAX) {
				logmsg("more than %d --cgroup options", CGROUPS_MAX);
				usage_error("bad arguments");
			}
			if (argv[i][0] != '/') {
				logmsg("--cgroup \"%s\": expected an absolute path", argv[i]);
				usage_error("bad arguments");
			}
			opt->cgroups[opt->ncgroups++] = argv[i++];
			continue;
		}
		if (opt->nbinds == BINDS_MAX) {
			logmsg("more than %d --bind options", BINDS_MAX);
			usage_error("bad arguments");
		}
		parse_bind(argv[i++], &opt->binds[opt->nbinds++]);
	}
	if (i >= argc)
		usage_error("missing PROGRAM after \"--\"");
	opt->argv = &argv[i];

	/* Which user namespace: exactly one of (maps) and (join). */
	if (opt->join_userns_arg) {
		if (opt->uid_map_arg || opt->gid_map_arg)
			usage_error("--join-userns cannot be combined with --uid-map/--gid-map");
		opt->join_userns = parse_int_arg("--join-userns", opt->join_userns_arg, 1);
	} else if (!opt->uid_map_arg || !opt->gid_map_arg) {
		usage_error("--uid-map and --gid-map are required (or --join-userns PID)");
	}
	if (opt->hostname) {
		if (!opt->new_uts)
			usage_error("--hostname needs --new-uts (it would rename the host)");
		if (strlen(opt->hostname) > HOSTNAME_MAX)
			usage_error("--hostname is longer than 64 bytes");
	}
	if (opt->instance_root) {
		if (opt->root)
			usage_error("--instance-root and --root are mutually exclusive");
		if (!opt->new_pid)
			usage_error("--instance-root needs --new-pid (its /proc is the new PID namespace's)");
		if (opt->instance_root[0] != '/')
			usage_error("--instance-root must be an absolute host path");
	} else if (opt->nbinds || opt->init_file) {
		usage_error("--bind and --init-file need --instance-root");
	}
	if (opt->init_file && opt->init_file[0] != '/')
		usage_error("--init-file must be an absolute host path");
	if (opt->pid_fd_arg) {
		/* 0..2 are the program's stdio, never a place for our report. */
		opt->pid_fd = parse_int_arg("--pid-fd", opt->pid_fd_arg, 3);
		if (fcntl(opt->pid_fd, F_GETFD) < 0) {
			logmsg("--pid-fd %d: %m", opt->pid_fd);
			usage_error("bad arguments");
		}
	}
	if (opt->argv[0][0] != '/')
		usage_error(opt->instance_root
				    ? "PROGRAM must be an absolute path inside the instance (no PATH lookup)"
				    : "PROGRAM must be an absolute host path (no PATH lookup)");
}

/* Moves this process into each cgroup (v1: one per controller), before it
 * forks: every process of the program is then born inside. */
static void join_cgroups(const struct options *opt)
{
	char path[PATH_MAX], pid[32];
	int len = snprintf(pid, sizeof pid, "%d\n", (int)getpid());

	for (size_t i = 0; i < opt->ncgroups; i++) {
		int n = snprintf(path, sizeof path, "%s/cgroup.procs", opt->cgroups[i]);
		if (n < 0 || (size_t)n >= sizeof path)
			die("--cgroup %s: path too long", opt->cgroups[i]);
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			die("--cgroup: open %s: %m", path);
		if (write(fd, pid, (size_t)len) != len)
			die("--cgroup: join %s: %m", path);
		close(fd);
	}
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

/*
 * Setup messages over a SOCK_SEQPACKET pair (one record each, so the child's
 * and PID 1's messages never run together):
 *   child -> supervisor  MSG_UNSHARED  new user namespace exists (maps mode)
 *   supervisor -> child  MSG_MAPPED    maps written
 *   child -> supervisor  MSG_PID1      value = host pid of PID 1 (--new-pid)
 *   program's process -> supervisor  MSG_READY  set up, about to exec
 * EOF means every other holder of the peer end died or exec'd.  MSG_NOSIGNAL:
 * a dead peer must give EPIPE, not kill us with SIGPIPE.
 */
enum { MSG_UNSHARED = 'u', MSG_MAPPED = 'm', MSG_PID1 = 'p', MSG_READY = 'r' };

struct msg {
	int32_t tag;
	int32_t value;
};

static int msg_send(int fd, int tag, int32_t value)
{
	struct msg m = { .tag = tag, .value = value };
	ssize_t n;

	do
		n = send(fd, &m, sizeof m, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof m ? 0 : -1;
}

static int msg_recv(int fd, struct msg *m)
{
	ssize_t n;

	do
		n = recv(fd, m, sizeof *m, 0);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof *m ? 0 : -1;
}

static int msg_wait(int fd, int tag)
{
	struct msg m;

	return msg_recv(fd, &m) == 0 && m.tag == tag ? 0 : -1;
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

/* Become inner root for real.  Until now our kernel ids are still host 0
 * (shown as the overflow id inside): a program exec'd like that would own its
 * files as host root.  Groups too: a kept supplementary host group 0 would
 * still open group-root files on the host. */
static void become_inner_root(void)
{
	if (setresgid(0, 0, 0) != 0)
		die("setresgid(0): %m");
	if (setgroups(0, NULL) != 0)
		die("setgroups(0): %m");
	if (setresuid(0, 0, 0) != 0)
		die("setresuid(0): %m");
}

/* ---------------------------------------------------------------------------
 * Instance root.  Everything below runs in the new mount namespace as inner
 * root, with the mapped host ids: paths are resolved with the user's host
 * rights, and capabilities count only over inodes whose owner is mapped.
 * Mounts are made with the fd-based mount API (open_tree/fsopen/fsmount +
 * move_mount): a mount is built detached (and made read-only before anyone
 * can see it) and attached onto a descriptor, never onto a path looked up
 * a second time.
 *
 * Read-only (/sys, /init, --bind ...:ro) guards against accidents, not
 * against the distribution's root: it owns this mount namespace and may
 * remount or unmount.  What protects host files is their ownership: host ids
 * outside the map (host root above all) get no capability override, so such
 * a file stays as (in)accessible as it is to the user on the host.
 */

/* PATH looked up as if ROOTFD were "/" (openat2 RESOLVE_IN_ROOT): symlinks of
 * the distribution, even absolute ones, and ".." stay inside it, exactly as
 * after the pivot.  O_CLOEXEC always. */
static int open_in_root(int rootfd, const char *rel, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	do
		fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
	while (fd < 0 && errno == EINTR);
	return (int)fd;
}

/* mkdir -p of REL inside the root; returns an O_PATH descriptor of it.  Each
 * prefix is resolved from the root again, and a missing component is made in
 * the directory its parent resolved to. */
static int ensure_dir(int rootfd, const char *rel)
{
	char prefix[PATH_MAX];
	const char *p = rel;
	size_t len = 0;
	int parent = -1, fd = -1;

	for (;;) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		char name[NAME_MAX + 1];

		if (n > NAME_MAX || len + n + 2 > sizeof prefix)
			die("instance root: /%s: name too long", rel);
		memcpy(name, p, n);
		name[n] = '\0';
		if (len)
			prefix[len++] = '/';
		memcpy(prefix + len, p, n);
		len += n;
		prefix[len] = '\0';

		fd = open_in_root(rootfd, prefix, O_PATH | O_DIRECTORY);
		if (fd < 0 && errno == ENOENT) {
			if (mkdirat(parent < 0 ? rootfd : parent, name, 0755) != 0 && errno != EEXIST)
				die("instance root: mkdir /%s: %m", prefix);
			fd = open_in_root(rootfd, prefix, O_PATH | O_DIRECTORY);
		}
		if (fd < 0)
			die("instance root: /%s: %m", prefix);
		if (parent >= 0)
			close(parent);
		if (*end == '\0')
			return fd;
		parent = fd;
		p = end + 1;
	}
}

/* REL as an (empty, if missing) regular file inside the root, its parents
 * made as needed; returns an O_PATH descriptor. */
static int ensure_file(int rootfd, const char *rel)
{
	const char *slash = strrchr(rel, '/');
	const char *name = slash ? slash + 1 : rel;
	int fd = open_in_root(rootfd, rel, O_PATH);

	if (fd < 0 && errno == ENOENT) {
		int parent = rootfd, made;

		if (slash) {
			char dir[PATH_MAX];

			memcpy(dir, rel, (size_t)(slash - rel));
			dir[slash - rel] = '\0';
			parent = ensure_dir(rootfd, dir);
		}
		made = openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (made < 0 && errno != EEXIST)
			die("instance root: create /%s: %m", rel);
		if (made >= 0)
			close(made);
		if (parent != rootfd)
			close(parent);
		fd = open_in_root(rootfd, rel, O_PATH);
	}
	if (fd < 0)
		die("instance root: /%s: %m", rel);
	return fd;
}

/* Host path, resolved with the user's rights (before the pivot). */
static int open_host(const char *path, const char *what)
{
	int fd = open(path, O_PATH | O_CLOEXEC);

	if (fd < 0)
		die("%s: %s: %m", what, path);
	return fd;
}

static void attach(int mnt, int target, const char *what)
{
	if (move_mount(mnt, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
		die("instance root: mounting %s: %m", what);
}

/* A (recursive) bind of SRC, read-only when asked (the whole subtree, done
 * before it is attached), mounted on TARGET. */
static void bind_onto(int src, int target, int recursive, int readonly, const char *what)
{
	int tree = open_tree(src, "",
			     AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
				     (recursive ? AT_RECURSIVE : 0));

	if (tree < 0)
		die("instance root: bind %s: %m", what);
	if (readonly) {
		struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };

		if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0)
			die("instance root: making %s read-only: %m", what);
	}
	attach(tree, target, what);
	close(tree);
}

/* Logs a failed fs-context step with the kernel's own explanation, if any. */
static __attribute__((noreturn)) void die_fs(int fs, const char *type, const char *what,
					     const char *step)
{
	int saved = errno;
	char text[256];
	ssize_t n = fs < 0 ? -1 : read(fs, text, sizeof text - 1);

	while (n > 0 && text[n - 1] == '\n')
		n--;
	text[n > 0 ? n : 0] = '\0';
	errno = saved;
	die("instance root: %s (%s) %s: %m%s%s", what, type, step, n > 0 ? "; kernel says: " : "",
	    text);
}

/* A new filesystem TYPE with PARAMS ("key=value" or "flag", NULL-ended),
 * as a detached mount with ATTRS; returns its descriptor. */
static int new_fs(const char *type, const char *const *params, unsigned int attrs,
		  const char *what)
{
	int fs = fsopen(type, FSOPEN_CLOEXEC), mnt;

	if (fs < 0)
		die_fs(fs, type, what, "fsopen");
	/* What /proc/mounts shows as the device ("proc", "tmpfs", "devpts"). */
	if (fsconfig(fs, FSCONFIG_SET_STRING, "source", type, 0) != 0)
		die_fs(fs, type, what, "source");
	for (; *params; params++) {
		const char *eq = strchr(*params, '=');
		char key[32];
		int r;

		if (eq) {
			size_t n = (size_t)(eq - *params);

			if (n >= sizeof key)
				die("internal error: option %s", *params);
			memcpy(key, *params, n);
			key[n] = '\0';
			r = fsconfig(fs, FSCONFIG_SET_STRING, key, eq + 1, 0);
		} else {
			r = fsconfig(fs, FSCONFIG_SET_FLAG, *params, NULL, 0);
		}
		if (r != 0)
			die_fs(fs, type, what, *params);
	}
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) != 0)
		die_fs(fs, type, what, "create");
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, attrs);
	if (mnt < 0)
		die_fs(fs, type, what, "fsmount");
	close(fs);
	return mnt;
}

/* Mounts a new TYPE on REL (made if missing); returns the mount's root. */
static int mount_fs_at(int rootfd, const char *rel, const char *type,
		       const char *const *params, unsigned int attrs)
{
	char what[PATH_MAX + 1];
	int target = ensure_dir(rootfd, rel), mnt;

	snprintf(what, sizeof what, "/%s", rel);
	mnt = new_fs(type, params, attrs, what);
	attach(mnt, target, what);
	close(target);
	return mnt;
}

/* The instance's /dev: a small tmpfs holding binds of the host's harmless
 * character devices, a private devpts, a shm tmpfs and the usual links.
 * No other device is reachable (a tmpfs made in a user namespace is nodev). */
static void setup_dev(int rootfd)
{
	static const char *const devices[] = { "null", "zero", "full", "random", "urandom", "tty" };
	static const char *const links[][2] = {
		{ "ptmx", "pts/ptmx" },		 { "fd", "/proc/self/fd" },
		{ "stdin", "/proc/self/fd/0" },	 { "stdout", "/proc/self/fd/1" },
		{ "stderr", "/proc/self/fd/2" },
	};
	static const char *const dev_params[] = { "mode=0755", "size=64k", NULL };
	static const char *const pts_params[] = { "newinstance", "ptmxmode=0666", "mode=0620", NULL };
	static const char *const shm_params[] = { "mode=1777", NULL };
	int dev = mount_fs_at(rootfd, "dev", "tmpfs", dev_params,
			      MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);

	for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++) {
		char host[32], what[32];
		struct stat st;
		int src, made, target;

		snprintf(host, sizeof host, "/dev/%s", devices[i]);
		snprintf(what, sizeof what, "/dev/%s", devices[i]);
		src = open_host(host, "host device");
		if (fstat(src, &st) != 0 || !S_ISCHR(st.st_mode))
			die("host %s is not a character device", host);
		made = openat(dev, devices[i], O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0666);
		if (made < 0)
			die("instance root: create %s: %m", what);
		close(made);
		target = openat(dev, devices[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (target < 0)
			die("instance root: %s: %m", what);
		bind_onto(src, target, 0, 0, what);
		close(target);
		close(src);
	}
	close(mount_fs_at(dev, "pts", "devpts", pts_params, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC));
	close(mount_fs_at(dev, "shm", "tmpfs", shm_params, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV));
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
		if (symlinkat(links[i][1], dev, links[i][0]) != 0)
			die("instance root: symlink /dev/%s: %m", links[i][0]);
	close(dev);
}

/* pivot_root into ROOTFD (the bind of the instance root onto itself) and
 * drop the host's tree from this mount namespace. */
static void pivot_into(int rootfd)
{
	struct stat st;

	if (fchdir(rootfd) != 0)
		die("instance root: chdir: %m");
	if (mkdirat(rootfd, OLD_ROOT, 0700) != 0 && errno != EEXIST)
		die("instance root: mkdir /%s: %m", OLD_ROOT);
	if (fstatat(rootfd, OLD_ROOT, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
		die("instance root: /%s exists and is not a directory", OLD_ROOT);
	if (syscall(SYS_pivot_root, ".", OLD_ROOT) != 0)
		die("instance root: pivot_root: %m");
	if (chdir("/") != 0)
		die("instance root: chdir /: %m");
	if (umount2("/" OLD_ROOT, MNT_DETACH) != 0)
		die("instance root: detaching the old root: %m");
	if (rmdir("/" OLD_ROOT) != 0)
		die("instance root: rmdir /%s: %m", OLD_ROOT);
}

/* Runs in PID 1 of the new PID namespace, in the new mount namespace (which
 * is private already), as inner root.  Order matters: the binds come after
 * /dev, /run and /tmp so that they may target paths below those. */
static void setup_instance(const struct options *opt)
{
	static const char *const no_params[] = { NULL };
	static const char *const run_params[] = { "mode=0755", NULL };
	static const char *const tmp_params[] = { "mode=1777", NULL };
	/* Mount points are made 0755 whatever the service's umask is. */
	mode_t old_umask = umask(0);
	int dir, root, src, target;

	/* The instance root becomes a mount point (needed by pivot_root): a
	 * recursive bind onto itself.  ROOT is that mount from here on. */
	dir = open(opt->instance_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		die("instance root %s: %m", opt->instance_root);
	root = open_tree(dir, "", AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (root < 0)
		die("instance root: bind %s: %m", opt->instance_root);
	attach(root, dir, opt->instance_root);
	close(dir);

	close(mount_fs_at(root, "proc", "proc", no_params,
			  MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC));

	/* sysfs itself cannot be mounted without a new network namespace, and
	 * instances use the host's: a read-only view of the host's /sys. */
	src = open_host("/sys", "host /sys");
	target = ensure_dir(root, "sys");
	bind_onto(src, target, 1, 1, "/sys");
	close(target);
	close(src);

	setup_dev(root);
	close(mount_fs_at(root, "run", "tmpfs", run_params, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV));
	close(mount_fs_at(root, "tmp", "tmpfs", tmp_params, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV));

	/* Host folders, seen with the user's host rights and no more. */
	for (size_t i = 0; i < opt->nbinds; i++) {
		const struct bind_spec *b = &opt->binds[i];
		char what[PATH_MAX + 1];
		struct stat st;

		snprintf(what, sizeof what, "/%s", b->target);
		src = open_host(b->source, "--bind source");
		if (fstat(src, &st) != 0)
			die("--bind source: %s: %m", b->source);
		target = S_ISDIR(st.st_mode) ? ensure_dir(root, b->target) : ensure_file(root, b->target);
		bind_onto(src, target, 1, b->readonly, what);
		close(target);
		close(src);
	}

	if (opt->init_file) {
		struct stat st;

		src = open_host(opt->init_file, "--init-file");
		if (fstat(src, &st) != 0 || !S_ISREG(st.st_mode))
			die("--init-file: %s is not a regular file", opt->init_file);
		target = ensure_file(root, "init");
		bind_onto(src, target, 0, 1, "/init");
		close(target);
		close(src);
	}

	pivot_into(root);
	close(root);
	umask(old_umask);
}

/* --------------------------------------------------------------------------- */

static __attribute__((noreturn)) void exec_failed(const char *program, int via_fd)
{
	int err = errno;

	if (err == ENOENT && via_fd)
		/* The file itself was opened already, so it is the ELF loader or a
		 * #! interpreter that is missing inside the root. */
		logmsg("exec %s: %m (its loader or interpreter is missing)", program);
	else
		logmsg("exec %s: %m", program);
	_exit(err == ENOENT || err == ENOTDIR	? EXIT_NOTFOUND
	      : err == EACCES || err == ENOEXEC ? EXIT_NOEXEC
						: EXIT_HELPER);
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

static __attribute__((noreturn)) void child_main(int sync_fd, pid_t supervisor, int userns_fd,
						 int prog_fd, const struct options *opt,
						 const sigset_t *orig_mask)
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

/* Reap the child and exit with its status; used on every parent exit path
 * once the child exists, so it is never left behind. */
static __attribute__((noreturn)) void reap_and_exit(pid_t child, int kill_first)
{
	int status;

	if (kill_first)
		kill(child, SIGKILL);
	if (wait_exit(child, &status) != 0)
		die("waitpid: %m");
	_exit(kill_first ? EXIT_HELPER : exit_code(status));
}

/*
 * Supervisor side of the setup: writes the maps when asked, learns PID 1's
 * host pid, and returns the pid of the process that is about to become
 * PROGRAM.  If that process (or the child before it) fails, it said why and
 * its exit status becomes ours.
 */
static pid_t handshake(pid_t child, int fd, const struct options *opt,
		       const struct idmap *uid_map, const struct idmap *gid_map)
{
	pid_t target = opt->new_pid ? 0 : child;
	int ready = 0;

	while (!ready || target == 0) {
		struct msg m;
		int status;

		if (msg_recv(fd, &m) != 0)
			reap_and_exit(target ? target : child, 0);
		switch (m.tag) {
		case MSG_UNSHARED:
			/* Only now do the map files belong to the new namespace.
			 * Exactly the caller's lines.  setgroups is left at
			 * "allow": we are privileged in the parent namespace, and
			 * the child needs setgroups(). */
			if (!opt->uid_map_arg || write_map(child, uid_map) != 0 ||
			    write_map(child, gid_map) != 0)
				reap_and_exit(child, 1);
			if (msg_send(fd, MSG_MAPPED, 0) != 0)
				reap_and_exit(child, 0);
			break;
		case MSG_PID1:
			if (!opt->new_pid || target != 0 || m.value <= 0) {
				logmsg("internal error: unexpected PID 1 report");
				reap_and_exit(child, 1);
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
			reap_and_exit(target ? target : child, 1);
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

/* The user namespace of PID, opened now: a missing holder is reported here,
 * clearly, and joining our own namespace (a no-op that would leave the
 * program with host-root rights) is refused. */
static int open_userns(pid_t pid)
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

int main(int argc, char **argv)
{
	struct options opt;
	static struct idmap uid_map = { .name = "uid" }, gid_map = { .name = "gid" };
	sigset_t waitset, orig_mask;
	int sv[2], prog_fd = -1, userns_fd = -1;
	pid_t parent, self, child, target;

	/* Writing arbitrary maps needs host CAP_SETUID/CAP_SETGID, joining a
	 * namespace CAP_SYS_ADMIN; fail early and clearly rather than with
	 * EPERM halfway through. */
	if (geteuid() != 0)
		die("must run as root (the service runs it as host root)");

	parse_args(argc, argv, &opt);
	if (!opt.join_userns) {
		parse_idmap(opt.uid_map_arg, &uid_map);
		parse_idmap(opt.gid_map_arg, &gid_map);
	}

	/* Die with the service.  Node spawns from its main thread, and the
	 * death signal fires when the spawning thread exits, so this holds. */
	parent = getppid();
	die_with_parent(parent);
	join_cgroups(&opt);

	if (opt.join_userns)
		userns_fd = open_userns(opt.join_userns);

	/* Resolve a host PROGRAM now; after chroot the path is gone.  An
	 * instance's PROGRAM is looked up inside it, after the pivot. */
	if (!opt.instance_root) {
		prog_fd = open(opt.argv[0], O_PATH | O_CLOEXEC);
		if (prog_fd < 0) {
			logmsg("open %s: %m", opt.argv[0]);
			_exit(errno == ENOENT || errno == ENOTDIR ? EXIT_NOTFOUND
			      : errno == EACCES		      ? EXIT_NOEXEC
								      : EXIT_HELPER);
		}
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

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		die("socketpair: %m");

	self = getpid();
	child = fork();
	if (child < 0)
		die("fork: %m");
	if (child == 0) {
		close(sv[0]);
		child_main(sv[1], self, userns_fd, prog_fd, &opt, &orig_mask);
	}
	close(sv[1]);
	if (prog_fd >= 0)
		close(prog_fd);
	if (userns_fd >= 0)
		close(userns_fd);
	/* Only this process: a --pid-fd reader that went away must give EPIPE,
	 * not kill the supervisor (and with it the program). */
	signal(SIGPIPE, SIG_IGN);

	target = handshake(child, sv[0], &opt, &uid_map, &gid_map);
	close(sv[0]);
	if (opt.pid_fd >= 0)
		report_pid(opt.pid_fd, target);

	release_fds();
	supervise(target, &waitset);
}
