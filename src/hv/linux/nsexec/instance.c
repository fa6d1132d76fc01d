/* The instance root (see instance.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fail.h"
#include "guest_setup.h"
#include "instance.h"
#include "mountfd.h"

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
		bind_onto(src, target, BIND_THIS_MOUNT, what);
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

/* A --bind (or a bind of the guest setup) of a host folder or file. */
static void bind_host(int root, const struct bind_spec *b)
{
	char what[PATH_MAX + 1];
	struct stat st;
	int src, target;

	snprintf(what, sizeof what, "/%s", b->target);
	src = open_host(b->source, "--bind source");
	if (fstat(src, &st) != 0)
		die("--bind source: %s: %m", b->source);
	target = S_ISDIR(st.st_mode) ? ensure_dir(root, b->target) : ensure_file(root, b->target);
	bind_onto(src, target, BIND_RECURSIVE | (b->readonly ? BIND_READ_ONLY : 0), what);
	close(target);
	close(src);
}

/* pivot_root into ROOTFD (the bind of the instance root onto itself) and
 * drop the host's tree from this mount namespace.  pivot_root(".", ".")
 * stacks the old root on top of the new one, where a lazy unmount of "."
 * takes it away: no folder for it is made (and removed) in the
 * distribution's own tree on disk. */
static void pivot_into(int rootfd)
{
	if (fchdir(rootfd) != 0)
		die("instance root: chdir: %m");
	if (syscall(SYS_pivot_root, ".", ".") != 0)
		die("instance root: pivot_root: %m");
	if (umount2(".", MNT_DETACH) != 0)
		die("instance root: detaching the old root: %m");
	if (chdir("/") != 0)
		die("instance root: chdir /: %m");
}

/* Runs in PID 1 of the new PID namespace, in the new mount namespace (which
 * is private already), as inner root.  Order matters: the binds come after
 * /dev, /run and /tmp so that they may target paths below those. */
void setup_instance(const struct options *opt)
{
	static const char *const no_params[] = { NULL };
	static const char *const run_params[] = { "mode=0755", NULL };
	static const char *const tmp_params[] = { "mode=1777", NULL };
	struct guest_setup setup = { 0 };
	mode_t old_umask;
	int dir, root, src, target;

	dir = open(opt->instance_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		die("instance root %s: %m", opt->instance_root);
	/* Before anything is mounted in the root, with the service's umask:
	 * the files are what a program chrooted into it would write. */
	if (opt->setup_fd >= 0) {
		exchange_guest_setup(opt->setup_fd, dir, &setup);
		write_guest_files(dir, &setup);
		if (setup.hostname) {
			/* Without a UTS namespace of its own it would rename the host. */
			if (!opt->new_uts)
				die("--setup-fd: a hostname needs --new-uts");
			if (sethostname(setup.hostname, strlen(setup.hostname)) != 0)
				die("sethostname %s: %m", setup.hostname);
		}
	}

	/* Mount points are made 0755 whatever the service's umask is. */
	old_umask = umask(0);
	/* The instance root becomes a mount point (needed by pivot_root): a
	 * recursive bind onto itself.  ROOT is that mount from here on. */
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
	bind_onto(src, target, BIND_RECURSIVE | BIND_READ_ONLY, "/sys");
	close(target);
	close(src);

	setup_dev(root);
	close(mount_fs_at(root, "run", "tmpfs", run_params, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV));
	close(mount_fs_at(root, "tmp", "tmpfs", tmp_params, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV));

	/* Host folders, seen with the user's host rights and no more. */
	for (size_t i = 0; i < opt->nbinds; i++)
		bind_host(root, &opt->binds[i]);
	for (size_t i = 0; i < setup.nbinds; i++)
		bind_host(root, &setup.binds[i]);

	if (opt->init_file) {
		struct stat st;

		src = open_host(opt->init_file, "--init-file");
		if (fstat(src, &st) != 0 || !S_ISREG(st.st_mode))
			die("--init-file: %s is not a regular file", opt->init_file);
		target = ensure_file(root, "init");
		bind_onto(src, target, BIND_READ_ONLY, "/init");
		close(target);
		close(src);
	}

	pivot_into(root);
	close(root);
	umask(old_umask);
}
