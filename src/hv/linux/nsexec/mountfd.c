/* The fd-based mount API (see mountfd.h). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fail.h"
#include "mountfd.h"

int open_in_root(int rootfd, const char *rel, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (uint64_t)mode,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	do
		fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
	while (fd < 0 && errno == EINTR);
	return (int)fd;
}

/* Each prefix is resolved from the root again, and a missing component is
 * made in the directory its parent resolved to. */
int ensure_dir(int rootfd, const char *rel)
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

		fd = open_in_root(rootfd, prefix, O_PATH | O_DIRECTORY, 0);
		if (fd < 0 && errno == ENOENT) {
			if (mkdirat(parent < 0 ? rootfd : parent, name, 0755) != 0 && errno != EEXIST)
				die("instance root: mkdir /%s: %m", prefix);
			fd = open_in_root(rootfd, prefix, O_PATH | O_DIRECTORY, 0);
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

int ensure_file(int rootfd, const char *rel)
{
	const char *slash = strrchr(rel, '/');
	const char *name = slash ? slash + 1 : rel;
	int fd = open_in_root(rootfd, rel, O_PATH, 0);

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
		fd = open_in_root(rootfd, rel, O_PATH, 0);
	}
	if (fd < 0)
		die("instance root: /%s: %m", rel);
	return fd;
}

/* Host path, resolved with the user's rights (before the pivot). */
int open_host(const char *path, const char *what)
{
	int fd = open(path, O_PATH | O_CLOEXEC);

	if (fd < 0)
		die("%s: %s: %m", what, path);
	return fd;
}

void attach(int mnt, int target, const char *what)
{
	if (move_mount(mnt, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
		die("instance root: mounting %s: %m", what);
}

/* Read-only is set on the whole subtree before it is attached. */
void bind_onto(int src, int target, enum bind_flags flags, const char *what)
{
	int tree = open_tree(src, "",
			     AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
				     (flags & BIND_RECURSIVE ? AT_RECURSIVE : 0));

	if (tree < 0)
		die("instance root: bind %s: %m", what);
	if (flags & BIND_READ_ONLY) {
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

int mount_fs_at(int rootfd, const char *rel, const char *type,
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
