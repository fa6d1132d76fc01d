/* MOUNT and UNMOUNT: host folders bound into the instance. */
#ifndef LXSSD_INIT_MOUNTS_H
#define LXSSD_INIT_MOUNTS_H

#include <stddef.h>

/*
 * Attaches the tree behind fd at target (created, mode 0755, if missing),
 * recursively, read-only when asked.  fd is either a directory of a mount in
 * init's own mount namespace (it is cloned), or a detached mount tree made by
 * the service with open_tree(OPEN_TREE_CLONE) in its namespace (it is moved:
 * a directory of another namespace's mount cannot be bound, the kernel says
 * EINVAL).  The caller keeps fd.  Returns 0, or a negative errno with a
 * message in why; on failure nothing stays mounted.
 */
int mount_host_dir(int fd, const char *target, int read_only, char *why, size_t why_size);

/* umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW).  0 or a negative errno. */
int unmount_dir(const char *target, char *why, size_t why_size);

#endif
