/*
 * --setup-fd N: the guest setup exchanged with the service while the
 * instance root is being set up, so that reading /etc/wsl.conf and writing
 * the files the service generates from it (/etc/hosts, /etc/resolv.conf)
 * cost no helper process of their own.
 *
 * Runs in PID 1 of the instance before anything is mounted in the root, as
 * inner root of the user's namespace: every path is resolved inside the
 * distribution's root (openat2 RESOLVE_IN_ROOT: its own symlinks, even
 * absolute ones, and ".." never lead out of it), and opened with the user's
 * rights only, exactly as a program chrooted into the root would.
 *
 * On descriptor N (a stream socket), all integers u32 little-endian:
 *
 *   helper -> service  /etc/wsl.conf: u32 length, then that many bytes (the
 *                      first WSL_CONF_MAX of the file), or the length
 *                      0xffffffff alone when there is none (missing,
 *                      unreadable, or not a regular file).
 *   service -> helper  u32 length of the body (at most SETUP_MAX), then the
 *                      body: records, each a tag byte and its fields (str:
 *                      u32 length, then the bytes; no NUL inside but in a
 *                      file's CONTENT):
 *                        'h' str NAME          the hostname (needs --new-uts)
 *                        'b' str SRC:DST[:ro]  one more --bind
 *                        'f' str PATH, str CONTENT
 *                                              a file written inside the root
 *
 * A file is written as `tee PATH` chrooted into the root would write it
 * (created 0666 & ~umask, truncated, through the distribution's own links);
 * one that cannot be written (a dangling link into a missing folder, a
 * folder in the way, a full disk) is left as it is, and so is anything that
 * is not a regular file once opened.  Any other failure of the exchange is
 * exit 125.
 */
#ifndef LXSSD_NSEXEC_GUEST_SETUP_H
#define LXSSD_NSEXEC_GUEST_SETUP_H

#include <stddef.h>

#include "args.h"

#define WSL_CONF_MAX (1u << 20)
#define SETUP_MAX (8u << 20)

struct guest_file {
	const char *path; /* absolute inside the instance */
	const char *content;
	size_t length;
};

struct guest_setup {
	char *body; /* the service's message: the fields below point into it */
	const char *hostname; /* NULL: none given */
	struct bind_spec *binds;
	size_t nbinds;
	struct guest_file *files;
	size_t nfiles;
};

/* Sends ROOTFD's /etc/wsl.conf on FD and reads the service's answer into
 * SETUP; closes FD. */
void exchange_guest_setup(int fd, int rootfd, struct guest_setup *setup);

/* Writes SETUP's files inside ROOTFD (see the top of this file). */
void write_guest_files(int rootfd, const struct guest_setup *setup);

#endif
