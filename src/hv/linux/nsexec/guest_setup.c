/* The guest setup exchange (see guest_setup.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fail.h"
#include "guest_setup.h"
#include "mountfd.h"

#define NO_FILE 0xffffffffu

static void write_all(int fd, const void *data, size_t len, const char *what)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("--setup-fd: sending %s: %m", what);
		p += n;
		len -= (size_t)n;
	}
}

static void read_all(int fd, void *data, size_t len)
{
	char *p = data;

	while (len > 0) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("--setup-fd: reading the guest setup: %m");
		if (n == 0)
			die("--setup-fd: the service closed it before sending the guest setup");
		p += n;
		len -= (size_t)n;
	}
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/* /etc/wsl.conf's first WSL_CONF_MAX bytes into BUF; -1 when there is none.
 * Non-blocking, so a FIFO in its place cannot hold the start up. */
static ssize_t read_wsl_conf(int rootfd, char *buf)
{
	int fd = open_in_root(rootfd, "etc/wsl.conf", O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
	struct stat st;
	size_t len = 0;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -1;
	}
	while (len < WSL_CONF_MAX) {
		ssize_t n = read(fd, buf + len, WSL_CONF_MAX - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* Unreadable as the user: as if it were not there (cat fails). */
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	return (ssize_t)len;
}

/* The next str field at *POS of BODY (LEN bytes), NUL-terminated in place
 * by moving it one byte down over its own length field.  Only a file's
 * content (OUT_LEN given) may hold a NUL. */
static const char *take_str(char *body, size_t len, size_t *pos, size_t *out_len)
{
	uint32_t n;
	char *s;

	if (len - *pos < 4)
		die("--setup-fd: the guest setup is truncated");
	n = get_u32((unsigned char *)body + *pos);
	if (n > len - *pos - 4)
		die("--setup-fd: the guest setup is truncated");
	s = body + *pos + 3;
	memmove(s, body + *pos + 4, n);
	s[n] = '\0';
	if (!out_len && memchr(s, '\0', n))
		die("--setup-fd: a NUL inside a string of the guest setup");
	*pos += 4 + n;
	if (out_len)
		*out_len = n;
	return s;
}

static void *grow(void *array, size_t count, size_t elem)
{
	void *p = realloc(array, (count + 1) * elem);

	if (!p)
		die("--setup-fd: out of memory");
	return p;
}

static void parse_setup(char *body, size_t len, struct guest_setup *setup)
{
	size_t pos = 0;

	while (pos < len) {
		char tag = body[pos++];

		switch (tag) {
		case 'h':
			setup->hostname = take_str(body, len, &pos, NULL);
			if (strlen(setup->hostname) > HOSTNAME_MAX)
				die("--setup-fd: the hostname is longer than %d bytes", HOSTNAME_MAX);
			break;
		case 'b':
			if (setup->nbinds == BINDS_MAX)
				die("--setup-fd: more than %d binds", BINDS_MAX);
			setup->binds = grow(setup->binds, setup->nbinds, sizeof *setup->binds);
			parse_bind_spec(take_str(body, len, &pos, NULL), &setup->binds[setup->nbinds++]);
			break;
		case 'f': {
			struct guest_file f;

			f.path = take_str(body, len, &pos, NULL);
			f.content = take_str(body, len, &pos, &f.length);
			if (f.path[0] != '/')
				die("--setup-fd: file \"%s\": expected an absolute path inside the instance",
				    f.path);
			setup->files = grow(setup->files, setup->nfiles, sizeof *setup->files);
			setup->files[setup->nfiles++] = f;
			break;
		}
		default:
			die("--setup-fd: unknown record 0x%02x in the guest setup", (unsigned char)tag);
		}
	}
}

void exchange_guest_setup(int fd, int rootfd, struct guest_setup *setup)
{
	unsigned char head[4];
	char *conf = malloc(WSL_CONF_MAX);
	ssize_t conf_len;
	uint32_t len;
	int fl;

	if (!conf)
		die("--setup-fd: out of memory");
	/* The service's end is non-blocking; ours must not be. */
	if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
		die("--setup-fd %d: %m", fd);
	conf_len = read_wsl_conf(rootfd, conf);
	put_u32(head, conf_len < 0 ? NO_FILE : (uint32_t)conf_len);
	write_all(fd, head, sizeof head, "/etc/wsl.conf");
	if (conf_len > 0)
		write_all(fd, conf, (size_t)conf_len, "/etc/wsl.conf");
	free(conf);

	read_all(fd, head, sizeof head);
	len = get_u32(head);
	if (len > SETUP_MAX)
		die("--setup-fd: a guest setup of %u bytes (at most %u)", (unsigned)len, SETUP_MAX);
	setup->body = malloc((size_t)len + 1);
	if (!setup->body)
		die("--setup-fd: out of memory");
	read_all(fd, setup->body, len);
	close(fd);
	parse_setup(setup->body, len, setup);
}

void write_guest_files(int rootfd, const struct guest_setup *setup)
{
	for (size_t i = 0; i < setup->nfiles; i++) {
		const struct guest_file *f = &setup->files[i];
		int fd = open_in_root(rootfd, f->path,
				      O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_NOCTTY, 0666);
		struct stat st;
		size_t done = 0;

		if (fd < 0)
			continue;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
			while (done < f->length) {
				ssize_t n = write(fd, f->content + done, f->length - done);

				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0)
					break;
				done += (size_t)n;
			}
		}
		close(fd);
	}
}
