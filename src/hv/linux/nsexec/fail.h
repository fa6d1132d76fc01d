/* How lxssd-nsexec fails: its exit statuses and die(). */
#ifndef LXSSD_NSEXEC_FAIL_H
#define LXSSD_NSEXEC_FAIL_H

#include <errno.h>
#include <unistd.h>

#include "log.h"

/* The helper itself failed before exec (the reason is on stderr). */
#define EXIT_HELPER 125
/* PROGRAM is not executable / not found, as a shell reports it. */
#define EXIT_NOEXEC 126
#define EXIT_NOTFOUND 127

/* _exit everywhere: there is no buffered stdio to flush, and the forked child
 * must not run atexit handlers it inherited. */
#define die(...) (logmsg(__VA_ARGS__), _exit(EXIT_HELPER))

/* The exit status for PROGRAM that could not be opened or executed. */
static inline int exit_for_exec_errno(int err)
{
	return err == ENOENT || err == ENOTDIR	 ? EXIT_NOTFOUND
	       : err == EACCES || err == ENOEXEC ? EXIT_NOEXEC
						 : EXIT_HELPER;
}

#endif
