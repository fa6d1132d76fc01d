/*
 * The fd-based mount API (open_tree/fsopen/fsmount + move_mount) as the
 * instance setup uses it: a mount is built detached (and made read-only
 * before anyone can see it) and attached onto a descriptor, never onto a
 * path looked up a second time.  Paths inside the instance are resolved as
 * if its root were "/".  Every failure is exit 125 with the reason.
 */
#ifndef LXSSD_NSEXEC_MOUNTFD_H
#define LXSSD_NSEXEC_MOUNTFD_H

#include <sys/types.h>

/* How bind_onto copies the source. */
enum bind_flags {
	BIND_THIS_MOUNT = 0,     /* only the mount at the source, not those below */
	BIND_RECURSIVE = 1 << 0, /* the source's whole tree of mounts */
	BIND_READ_ONLY = 1 << 1, /* all of it read-only */
};

/* PATH looked up as if ROOTFD were "/" (openat2 RESOLVE_IN_ROOT): symlinks of
 * the distribution, even absolute ones, and ".." stay inside it, exactly as
 * after the pivot.  MODE only with O_CREAT (else 0); O_CLOEXEC always.
 * Returns the descriptor, or -1 with errno set. */
int open_in_root(int rootfd, const char *rel, int flags, mode_t mode);

/* mkdir -p of REL inside the root; returns an O_PATH descriptor of it. */
int ensure_dir(int rootfd, const char *rel);

/* REL as an (empty, if missing) regular file inside the root, its parents
 * made as needed; returns an O_PATH descriptor. */
int ensure_file(int rootfd, const char *rel);

/* Host PATH as an O_PATH descriptor (WHAT names it in a failure). */
int open_host(const char *path, const char *what);

/* Attaches the detached mount MNT onto TARGET. */
void attach(int mnt, int target, const char *what);

/* A bind of SRC as FLAGS say, mounted on TARGET. */
void bind_onto(int src, int target, enum bind_flags flags, const char *what);

/* Mounts a new TYPE with PARAMS ("key=value" or "flag", NULL-ended) and the
 * MOUNT_ATTR_* ATTRS on REL (made if missing); returns the mount's root. */
int mount_fs_at(int rootfd, const char *rel, const char *type, const char *const *params,
		unsigned int attrs);

#endif
