/* lxssd-nsexec's command line: parsed and checked before anything is done
 * (see the rules' owners at the top of nsexec.c). */
#ifndef LXSSD_NSEXEC_ARGS_H
#define LXSSD_NSEXEC_ARGS_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "idmap.h"

#define BINDS_MAX 64
#define CGROUPS_MAX 8
#define HOSTNAME_MAX 64 /* HOST_NAME_MAX on Linux */

struct bind_spec {
	const char *arg;       /* as given, for messages */
	char source[PATH_MAX]; /* absolute host path */
	char target[PATH_MAX]; /* normalised, relative to the instance root: "mnt/home" */
	int readonly;
};

struct options {
	const char *uid_map_arg, *gid_map_arg, *root, *cwd;
	const char *join_userns_arg, *hostname, *instance_root, *init_file, *pid_fd_arg;
	const char *setup_fd_arg;
	int new_pid, new_uts, new_ipc;
	pid_t join_userns; /* 0: none, the maps below instead */
	struct idmap uid_map, gid_map;
	int pid_fd;        /* -1: none */
	int setup_fd;      /* -1: none (guest_setup.h) */
	struct bind_spec binds[BINDS_MAX];
	size_t nbinds;
	const char *cgroups[CGROUPS_MAX];
	size_t ncgroups;
	char **argv; /* PROGRAM [ARGS...], NULL-terminated (points into main's argv) */
};

/* Fills OPT from main's arguments; anything malformed is exit 125 with the
 * reason and the usage on stderr. */
void parse_args(int argc, char **argv, struct options *opt);

/* "SRC:DST" or "SRC:DST:ro" (SRC an absolute host path, neither contains
 * ':') into B, as --bind takes it; exit 125 when malformed. */
void parse_bind_spec(const char *arg, struct bind_spec *b);

#endif
