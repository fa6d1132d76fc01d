/*
 * lxssd-nsexec: run one program in a fresh user + mount namespace with id maps
 * chosen by the service (or in an existing user namespace), optionally in new
 * PID/UTS/IPC namespaces, chrooted, or as PID 1 of a distribution instance.
 *
 *   lxssd-nsexec (--uid-map "INNER OUTER COUNT[,...]" --gid-map "..." | --join-userns PID)
 *                [--new-pid] [--new-uts] [--new-ipc] [--hostname NAME]
 *                [--root DIR | --instance-root DIR [--bind SRC:DST[:ro]]... [--init-file PATH]
 *                 [--setup-fd N]]
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
 * --setup-fd N (with --instance-root): before anything is mounted in the
 * root, PROGRAM's process sends the root's /etc/wsl.conf on descriptor N and
 * reads back the guest setup the service made of it: a hostname, more binds
 * and files to write inside the root (guest_setup.h has the exchange).  So
 * the service learns the distribution's settings, and writes its /etc/hosts
 * and /etc/resolv.conf, with the user's rights and without a process of
 * their own.  N is closed before PROGRAM runs.
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
 *
 * Who owns which argument rule.  This helper runs as host root and never
 * acts on an argv it did not check: whoever built it, each rule below that
 * it can see is refused here (exit 125).  Each is stated, with its reason,
 * by one owner:
 *  - Here (args.c, idmap.c, creds.c) what is about a value and what only
 *    this side can see: the syntax of every option; the id map rules the
 *    kernel would otherwise refuse late (overlaps, 2^32, 340 lines, inner 0
 *    mapped); absolute host paths (PROGRAM, --instance-root, --init-file,
 *    --cgroup, --bind SRC); a --bind DST that stays below the root; the
 *    hostname's length; an open --pid-fd from 3 up (and --setup-fd, another
 *    one); a --join-userns process that exists and is not in our own user
 *    namespace; unknown or repeated options.
 *  - src/hv/linux/nsexec.ts (nsexecArgs) which options need or exclude
 *    which: maps or --join-userns; --hostname needs --new-uts (else it would
 *    rename the host); --instance-root needs --new-pid (its /proc is the new
 *    PID namespace's) and excludes --root; --bind, --init-file and
 *    --setup-fd need --instance-root.  It refuses those with the reason
 *    before anything starts; args.c keeps them as a plain table.  Also its own, as only
 *    it can see them: that --pid-fd is one of the descriptors it passes,
 *    and that a bind's paths have no ':' to misread in SRC:DST.
 * nsexecArgs also throws early on the value rules it can see in its typed
 * options (absolute paths, bind targets, id map ranges): those are a
 * caller's convenience, this side is their authority.
 *
 * Files: nsexec.c this overview and main; args.c the command line; idmap.c
 * the maps; cgroup.c --cgroup; creds.c user namespaces and credentials;
 * setup_msg.c the setup messages; child.c the child up to exec; instance.c
 * + mountfd.c the instance root; guest_setup.c --setup-fd; supervisor.c
 * the process that stays; fail.h exit statuses; ../common/log.c logging, shared with lxssd-init.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "args.h"
#include "cgroup.h"
#include "child.h"
#include "creds.h"
#include "fail.h"
#include "supervisor.h"

const struct log_identity log_identity = { "lxssd-nsexec", LOG_PREFIX_NAME };

int main(int argc, char **argv)
{
	/* Static: the binds alone are half a megabyte. */
	static struct options opt;
	sigset_t waitset, orig_mask;
	int sv[2], prog_fd = -1, userns_fd = -1;
	pid_t parent, self, child;

	/* Writing arbitrary maps needs host CAP_SETUID/CAP_SETGID, joining a
	 * namespace CAP_SYS_ADMIN; fail early and clearly rather than with
	 * EPERM halfway through. */
	if (geteuid() != 0)
		die("must run as root (the service runs it as host root)");

	parse_args(argc, argv, &opt);

	/* Die with the service.  Node spawns from its main thread, and the
	 * death signal fires when the spawning thread exits, so this holds. */
	parent = getppid();
	die_with_parent(parent);
	join_cgroups(opt.cgroups, opt.ncgroups);

	if (opt.join_userns)
		userns_fd = open_userns(opt.join_userns);

	/* Resolve a host PROGRAM now; after chroot the path is gone.  An
	 * instance's PROGRAM is looked up inside it, after the pivot. */
	if (!opt.instance_root) {
		prog_fd = open(opt.argv[0], O_PATH | O_CLOEXEC);
		if (prog_fd < 0) {
			logmsg("open %s: %m", opt.argv[0]);
			_exit(exit_for_exec_errno(errno));
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
	/* PROGRAM's end: the service must see EOF as soon as it is done. */
	if (opt.setup_fd >= 0)
		close(opt.setup_fd);
	if (prog_fd >= 0)
		close(prog_fd);
	if (userns_fd >= 0)
		close(userns_fd);
	supervise(child, sv[0], &opt, &waitset);
}
