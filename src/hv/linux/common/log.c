/* The one logging helper: see log.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "log.h"

void logmsg(const char *fmt, ...)
{
	int saved = errno;
	char line[1024];
	int prefix = log_identity.prefix == LOG_PREFIX_NAME_PID
			     ? snprintf(line, sizeof line, "%s[%d]: ", log_identity.name, (int)getpid())
			     : snprintf(line, sizeof line, "%s: ", log_identity.name);
	va_list ap;

	if (prefix < 0)
		prefix = 0;
	if ((size_t)prefix >= sizeof line - 1)
		prefix = (int)(sizeof line - 2);
	va_start(ap, fmt);
	errno = saved;
	int body = vsnprintf(line + prefix, sizeof line - (size_t)prefix - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)prefix + (body < 0 ? 0 : (size_t)body);
	if (len > sizeof line - 2)
		len = sizeof line - 2; /* truncated: still end with a newline */
	line[len++] = '\n';
	if (write(STDERR_FILENO, line, len) < 0) {
		/* Nothing sensible left to report to. */
	}
	errno = saved;
}
