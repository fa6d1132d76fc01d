/* Host folders bound into the instance (see mounts.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mounts.h"

/* mkdir -p with mode 0755; 0 or a negative errno. */
static int make_dirs(const char *target)
{
	char path[PATH_MAX];
	size_t len = strlen(target);

	if (len >= sizeof path)
		return -ENAMETOOLONG;
	memcpy(path, target, len + 1);
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
			return -errno;
		*p = saved;
		if (saved == '\0')
			return 0;
	}
}

static int make_read_only(int dfd, const char *path, unsigned int flags)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };

	return mount_setattr(dfd, path, flags | AT_RECURSIVE, &attr, sizeof attr);
}

static int error(char *why, size_t why_size, int err, const char *what, const char *target)
{
	snprintf(why, why_size, "%s %s: %s", what, target, strerror(err));
	return -err;
}

/* Kernels before 5.2 (no open_tree): the /proc/self/fd path, which needs
 * /proc mounted and the fd's mount in our namespace. */
static int legacy_bind(int fd, const char *target, int read_only, char *why, size_t why_size)
{
	char source[64];

	snprintf(source, sizeof source, "/proc/self/fd/%d", fd);
	if (mount(source, target, NULL, MS_BIND | MS_REC, NULL) != 0)
		return error(why, why_size, errno, "bind mount at", target);
	if (read_only && mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) != 0) {
		int err = errno;
		umount2(target, MNT_DETACH);
		return error(why, why_size, err, "remount read-only", target);
	}
	return 0;
}

int mount_host_dir(int fd, const char *target, int read_only, char *why, size_t why_size)
{
	int tree, owned = 1, ro_done = 0, err;
	struct stat st;

	err = make_dirs(target);
	if (err != 0)
		return error(why, why_size, -err, "create", target);
	/* A folder goes onto a folder only: said plainly, not as move_mount's EINVAL. */
	if (stat(target, &st) != 0)
		return error(why, why_size, errno, "stat", target);
	if (!S_ISDIR(st.st_mode))
		return error(why, why_size, ENOTDIR, "mount at", target);

	tree = open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
	if (tree < 0 && errno == ENOSYS)
		return legacy_bind(fd, target, read_only, why, why_size);
	if (tree < 0 && errno == EINVAL) {
		/* Not a mount of our namespace: a detached tree is moved as is. */
		tree = fd;
		owned = 0;
	} else if (tree < 0) {
		return error(why, why_size, errno, "open_tree for", target);
	}

	/* Read-only before it becomes visible, when the kernel lets us. */
	if (read_only)
		ro_done = make_read_only(tree, "", AT_EMPTY_PATH) == 0;

	if (move_mount(tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) != 0) {
		err = errno;
		if (owned)
			close(tree);
		if (!owned && err == EINVAL) {
			snprintf(why, why_size,
				 "mount at %s: the descriptor is neither a folder of init's mount "
				 "namespace nor a detached mount tree (open_tree(OPEN_TREE_CLONE))",
				 target);
			return -EINVAL;
		}
		return error(why, why_size, err, "mount at", target);
	}
	if (owned)
		close(tree);

	if (read_only && !ro_done && make_read_only(AT_FDCWD, target, AT_SYMLINK_NOFOLLOW) != 0 &&
	    mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) != 0) {
		/* Never leave writable what was asked read-only. */
		err = errno;
		umount2(target, MNT_DETACH);
		return error(why, why_size, err, "remount read-only", target);
	}
	return 0;
}

int unmount_dir(const char *target, char *why, size_t why_size)
{
	if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) != 0)
		return error(why, why_size, errno, "unmount", target);
	return 0;
}
