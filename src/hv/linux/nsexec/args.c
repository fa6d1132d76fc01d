/* The command line (see args.h).  The rules checked here are owned as the
 * top of nsexec.c says. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "fail.h"

static __attribute__((noreturn)) void usage_error(const char *why)
{
	logmsg("%s", why);
	logmsg("usage: lxssd-nsexec (--uid-map \"INNER OUTER COUNT[,...]\" --gid-map \"...\" | "
	       "--join-userns PID) [--new-pid] [--new-uts] [--new-ipc] [--hostname NAME] "
	       "[--root DIR | --instance-root DIR [--bind SRC:DST[:ro]]... [--init-file PATH] "
	       "[--setup-fd N]] [--cwd DIR] [--pid-fd N] [--cgroup DIR]... -- PROGRAM [ARGS...]");
	logmsg("PROGRAM is an absolute host path, or with --instance-root an absolute path "
	       "inside the instance (looked up after the pivot)");
	_exit(EXIT_HELPER);
}

/* One line saying what is wrong with the arguments, then the usage. */
static __attribute__((noreturn, format(printf, 1, 2))) void bad_argument(const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	usage_error(why);
}

/* A whole argument that is a decimal in [min, INT_MAX]. */
static int parse_int_arg(const char *name, const char *s, int min)
{
	uint64_t v;
	const char *end = parse_u32(s, &v);

	if (!end || *end != '\0' || v > INT_MAX || v < (uint64_t)min)
		bad_argument("%s: expected a number from %d, got \"%s\"", name, min, s);
	return (int)v;
}

/* Host paths are absolute: a relative one would be resolved from wherever
 * the service happens to run, with host root's rights. */
static void require_absolute(const char *option, const char *path)
{
	if (path[0] != '/')
		bad_argument("%s \"%s\": expected an absolute host path", option, path);
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

void parse_bind_spec(const char *arg, struct bind_spec *b)
{
	const char *c1 = strchr(arg, ':');
	const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	size_t src_len = c1 ? (size_t)(c1 - arg) : 0;
	size_t dst_len = c2 ? (size_t)(c2 - c1 - 1) : c1 ? strlen(c1 + 1) : 0;
	char dst[PATH_MAX];

	b->arg = arg;
	if (!c1 || (c2 && strcmp(c2 + 1, "ro") != 0))
		bad_argument("--bind \"%s\": expected SRC:DST or SRC:DST:ro", arg);
	b->readonly = c2 != NULL;
	if (src_len == 0 || arg[0] != '/' || src_len >= sizeof b->source)
		bad_argument("--bind \"%s\": SRC must be an absolute host path", arg);
	memcpy(b->source, arg, src_len);
	b->source[src_len] = '\0';
	if (dst_len >= sizeof dst)
		bad_argument("--bind \"%s\": DST too long", arg);
	memcpy(dst, c1 + 1, dst_len);
	dst[dst_len] = '\0';
	if (normalise_target(dst, b->target, sizeof b->target) != 0)
		bad_argument("--bind \"%s\": DST must be an absolute path inside the instance, "
			     "below \"/\" and without \"..\"",
			     arg);
}

static void set_flag(int *flag, const char *name)
{
	if (*flag)
		bad_argument("%s given twice", name);
	*flag = 1;
}

/* The value option A names in OPT, or NULL when A is no such option. */
static const char **value_slot(struct options *opt, const char *a)
{
	static const struct {
		const char *name;
		size_t offset;
	} values[] = {
		{ "--uid-map", offsetof(struct options, uid_map_arg) },
		{ "--gid-map", offsetof(struct options, gid_map_arg) },
		{ "--root", offsetof(struct options, root) },
		{ "--cwd", offsetof(struct options, cwd) },
		{ "--join-userns", offsetof(struct options, join_userns_arg) },
		{ "--hostname", offsetof(struct options, hostname) },
		{ "--instance-root", offsetof(struct options, instance_root) },
		{ "--init-file", offsetof(struct options, init_file) },
		{ "--pid-fd", offsetof(struct options, pid_fd_arg) },
		{ "--setup-fd", offsetof(struct options, setup_fd_arg) },
	};

	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
		if (strcmp(a, values[i].name) == 0)
			return (const char **)((char *)opt + values[i].offset);
	return NULL;
}

/*
 * Which options need or exclude which.  nsexec.ts owns these rules (it
 * refuses them, with the reason, before anything starts); here they are a
 * plain check, so that no argv the service did not mean is ever acted on.
 */
static void check_combinations(const struct options *opt)
{
	const struct {
		int given;
		const char *option;
		enum { NEEDS, EXCLUDES } rule;
		int other_given;
		const char *other;
	} rules[] = {
		{ opt->join_userns_arg != NULL, "--join-userns", EXCLUDES,
		  opt->uid_map_arg || opt->gid_map_arg, "--uid-map/--gid-map" },
		{ opt->hostname != NULL, "--hostname", NEEDS, opt->new_uts, "--new-uts" },
		{ opt->instance_root != NULL, "--instance-root", EXCLUDES, opt->root != NULL, "--root" },
		{ opt->instance_root != NULL, "--instance-root", NEEDS, opt->new_pid, "--new-pid" },
		{ opt->nbinds > 0, "--bind", NEEDS, opt->instance_root != NULL, "--instance-root" },
		{ opt->init_file != NULL, "--init-file", NEEDS, opt->instance_root != NULL,
		  "--instance-root" },
		{ opt->setup_fd_arg != NULL, "--setup-fd", NEEDS, opt->instance_root != NULL,
		  "--instance-root" },
	};

	if (!opt->join_userns_arg && !(opt->uid_map_arg && opt->gid_map_arg))
		usage_error("--uid-map and --gid-map are required (or --join-userns PID)");
	for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
		if (!rules[i].given || rules[i].other_given == (rules[i].rule == NEEDS))
			continue;
		bad_argument("%s %s %s", rules[i].option,
			     rules[i].rule == NEEDS ? "needs" : "cannot be combined with", rules[i].other);
	}
}

void parse_args(int argc, char **argv, struct options *opt)
{
	int i = 1;

	memset(opt, 0, sizeof *opt);
	opt->pid_fd = -1;
	opt->setup_fd = -1;
	opt->uid_map.name = "uid";
	opt->gid_map.name = "gid";
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
		slot = value_slot(opt, a);
		if (!slot && strcmp(a, "--bind") != 0 && strcmp(a, "--cgroup") != 0)
			bad_argument("unknown argument \"%s\"", a);
		if (slot && *slot)
			bad_argument("%s given twice", a);
		if (i >= argc || argv[i][0] == '\0')
			bad_argument("%s needs a non-empty value", a);
		if (slot) {
			*slot = argv[i++];
			continue;
		}
		/* The repeatable ones. */
		if (strcmp(a, "--cgroup") == 0) {
			if (opt->ncgroups == CGROUPS_MAX)
				bad_argument("more than %d --cgroup options", CGROUPS_MAX);
			require_absolute(a, argv[i]);
			opt->cgroups[opt->ncgroups++] = argv[i++];
			continue;
		}
		if (opt->nbinds == BINDS_MAX)
			bad_argument("more than %d --bind options", BINDS_MAX);
		parse_bind_spec(argv[i++], &opt->binds[opt->nbinds++]);
	}
	if (i >= argc)
		usage_error("missing PROGRAM after \"--\"");
	opt->argv = &argv[i];

	check_combinations(opt);
	if (opt->join_userns_arg) {
		opt->join_userns = parse_int_arg("--join-userns", opt->join_userns_arg, 1);
	} else {
		parse_idmap(opt->uid_map_arg, &opt->uid_map);
		parse_idmap(opt->gid_map_arg, &opt->gid_map);
	}
	if (opt->hostname && strlen(opt->hostname) > HOSTNAME_MAX)
		bad_argument("--hostname is longer than %d bytes", HOSTNAME_MAX);
	if (opt->instance_root)
		require_absolute("--instance-root", opt->instance_root);
	if (opt->init_file)
		require_absolute("--init-file", opt->init_file);
	if (opt->pid_fd_arg) {
		/* 0..2 are the program's stdio, never a place for our report. */
		opt->pid_fd = parse_int_arg("--pid-fd", opt->pid_fd_arg, 3);
		if (fcntl(opt->pid_fd, F_GETFD) < 0)
			bad_argument("--pid-fd %d: %m", opt->pid_fd);
	}
	if (opt->setup_fd_arg) {
		opt->setup_fd = parse_int_arg("--setup-fd", opt->setup_fd_arg, 3);
		if (opt->setup_fd == opt->pid_fd)
			bad_argument("--setup-fd and --pid-fd must be different descriptors");
		if (fcntl(opt->setup_fd, F_GETFD) < 0)
			bad_argument("--setup-fd %d: %m", opt->setup_fd);
	}
	if (opt->argv[0][0] != '/')
		usage_error(opt->instance_root
				    ? "PROGRAM must be an absolute path inside the instance (no PATH lookup)"
				    : "PROGRAM must be an absolute host path (no PATH lookup)");
}
