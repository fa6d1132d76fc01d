/*
 * Who a launch runs as, read from the distribution's own /etc/passwd and
 * /etc/group.  Parsed here on purpose: this is a static binary, and NSS
 * (getpwnam) would either be unavailable or read the host's configuration.
 */
#ifndef LXSSD_INIT_PASSWD_H
#define LXSSD_INIT_PASSWD_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

struct account {
	uid_t uid;
	gid_t gid;
	char home[PATH_MAX];
	gid_t *groups; /* setgroups() list: the primary gid, then each group listing the user */
	size_t ngroups;
};

/*
 * By name: 0, or -ENOENT when no /etc/passwd line has that name (or the file
 * cannot be read), with a message in why.
 */
int account_by_name(const char *passwd_path, const char *group_path, const char *name,
		    struct account *a, char *why, size_t why_size);

/*
 * By uid: never fails for a missing entry.  A uid without a passwd line runs
 * with gid = uid, home "/" and no supplementary groups (like `docker run -u`).
 * Returns 0, or -ENOMEM.
 */
int account_by_uid(const char *passwd_path, const char *group_path, uid_t uid, struct account *a,
		   char *why, size_t why_size);

void account_free(struct account *a);

#endif
