/* The one logging helper of lxssd-init: a whole line to stderr, errno kept. */
#ifndef LXSSD_INIT_LOG_H
#define LXSSD_INIT_LOG_H

/* Formats "lxssd-init: ...\n" and writes it with one write(2).  errno is the
 * same on entry (for "%m") and on return, so a caller can log and then still
 * look at errno. */
void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
