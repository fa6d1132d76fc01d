/* The one logging helper of the native helpers (lxssd-init, lxssd-nsexec):
 * a whole line to stderr, errno kept. */
#ifndef LXSSD_COMMON_LOG_H
#define LXSSD_COMMON_LOG_H

/* What starts each line.  init logs from forked children too (a launch
 * before its exec), so its lines carry the writer's pid. */
enum log_prefix {
	LOG_PREFIX_NAME,     /* "NAME: " */
	LOG_PREFIX_NAME_PID, /* "NAME[PID]: " */
};

struct log_identity {
	const char *name; /* the binary's name: "lxssd-init", "lxssd-nsexec" */
	enum log_prefix prefix;
};

/* Defined once by each binary (in its main file), so every line, even one
 * written before main runs anything, says who wrote it. */
extern const struct log_identity log_identity;

/* Formats the prefix and the message into one line ending in "\n" and
 * writes it with one write(2), so concurrent writers do not interleave
 * mid-line.  errno is the same on entry (for "%m") and on return, so a
 * caller can log and then still look at errno (e.g. to pick an exit code). */
void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
