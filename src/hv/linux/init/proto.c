/*
 * Frame encode/decode for the lxssd-init protocol (see proto.h).  Pure: no
 * I/O, no allocation.  Every read goes through struct reader, which checks
 * the remaining length before it touches a byte.
 */
#include <errno.h>
#include <stdalign.h>
#include <string.h>

#include "proto.h"

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

int proto_read_header(const uint8_t *buf, size_t avail, struct proto_header *h)
{
	if (avail < PROTO_HEADER_SIZE)
		return -EBADMSG;
	h->length = get_le32(buf);
	h->type = (uint16_t)(buf[4] | buf[5] << 8);
	h->nfds = buf[6];
	h->flags = buf[7];
	h->id = get_le32(buf + 8);
	if (h->length < PROTO_HEADER_SIZE || h->length > PROTO_MAX_FRAME)
		return -EMSGSIZE;
	return 0;
}

/*
 * Worst case for a payload of n bytes: every string is empty (4 bytes on the
 * wire, 1 byte NUL + one pointer in the arena), plus a NULL terminator and
 * alignment slack per array (a frame has at most two arrays).
 */
size_t proto_arena_size(size_t frame_len)
{
	size_t n = frame_len > PROTO_HEADER_SIZE ? frame_len - PROTO_HEADER_SIZE : 0;
	size_t strings = n / 4 + 1;

	return n + strings * (1 + sizeof(char *)) + 4 * (sizeof(char *) + alignof(char *)) + 64;
}

struct reader {
	const uint8_t *p, *end;
	char *arena, *arena_end;
	const char *why; /* first failure */
	int err;
};

static void fail(struct reader *r, int err, const char *why)
{
	if (!r->err) {
		r->err = err;
		r->why = why;
	}
}

static uint32_t rd_u32(struct reader *r, const char *what)
{
	if (r->err)
		return 0;
	if ((size_t)(r->end - r->p) < 4) {
		fail(r, -EBADMSG, what);
		return 0;
	}
	uint32_t v = get_le32(r->p);
	r->p += 4;
	return v;
}

static void *arena_take(struct reader *r, size_t size, size_t align)
{
	uintptr_t at = ((uintptr_t)r->arena + (align - 1)) & ~(uintptr_t)(align - 1);

	if (at > (uintptr_t)r->arena_end || size > (uintptr_t)r->arena_end - at) {
		fail(r, -EBADMSG, "frame too complex to decode");
		return NULL;
	}
	r->arena = (char *)(at + size);
	return (void *)at;
}

/* A NUL-terminated copy in the arena, or NULL (with r->err set). */
static char *rd_str(struct reader *r, const char *what)
{
	uint32_t len = rd_u32(r, what);

	if (r->err)
		return NULL;
	if ((size_t)(r->end - r->p) < len) {
		fail(r, -EBADMSG, what);
		return NULL;
	}
	if (memchr(r->p, '\0', len)) {
		fail(r, -EBADMSG, "a string contains a NUL byte");
		return NULL;
	}
	char *s = arena_take(r, (size_t)len + 1, 1);
	if (!s)
		return NULL;
	memcpy(s, r->p, len);
	s[len] = '\0';
	r->p += len;
	return s;
}

/* A NULL-terminated array of copies, or NULL (with r->err set). */
static char **rd_strv(struct reader *r, uint32_t *count, const char *what)
{
	uint32_t n = rd_u32(r, what);

	if (r->err)
		return NULL;
	/* Each string takes at least its 4-byte length: a count that cannot fit
	 * in what is left is refused before anything is reserved for it. */
	if (n > (size_t)(r->end - r->p) / 4) {
		fail(r, -EBADMSG, what);
		return NULL;
	}
	char **v = arena_take(r, ((size_t)n + 1) * sizeof(char *), alignof(char *));
	if (!v)
		return NULL;
	for (uint32_t i = 0; i < n; i++) {
		v[i] = rd_str(r, what);
		if (r->err)
			return NULL;
	}
	v[n] = NULL;
	*count = n;
	return v;
}

/* An absent optional string is sent as an empty one. */
static const char *empty_is_null(const char *s)
{
	return s && *s ? s : NULL;
}

static int valid_size(uint32_t v)
{
	return v >= 1 && v <= 65535;
}

static void decode_launch(struct reader *r, const struct proto_header *h, uint32_t version,
			  struct req_launch *l)
{
	l->mode = rd_u32(r, "LAUNCH: truncated mode");
	l->user = empty_is_null(rd_str(r, "LAUNCH: truncated user"));
	l->uid = rd_u32(r, "LAUNCH: truncated uid");
	l->argv = rd_strv(r, &l->argc, "LAUNCH: truncated argv");
	l->env = rd_strv(r, &l->envc, "LAUNCH: truncated env");
	l->cwd = empty_is_null(rd_str(r, "LAUNCH: truncated cwd"));
	l->cols = rd_u32(r, "LAUNCH: truncated cols");
	l->rows = rd_u32(r, "LAUNCH: truncated rows");
	if (version >= 2)
		l->executable = empty_is_null(rd_str(r, "LAUNCH: truncated executable"));
	if (r->err)
		return;
	if (l->mode != LAUNCH_PIPES && l->mode != LAUNCH_PTY)
		fail(r, -EINVAL, "LAUNCH: mode must be 0 (pipes) or 1 (pty)");
	else if (h->nfds != (l->mode == LAUNCH_PIPES ? 3 : 0))
		fail(r, -EBADMSG, "LAUNCH: pipes mode passes 3 descriptors, pty mode none");
	else if (l->user && l->uid != PROTO_NO_UID)
		fail(r, -EINVAL, "LAUNCH: give a user name or a uid, not both");
	else if (l->argc < 1 || l->argv[0][0] == '\0')
		fail(r, -EINVAL, "LAUNCH: argv must name a program");
	else if (l->cwd && l->cwd[0] != '/' && strcmp(l->cwd, "~") != 0)
		fail(r, -EINVAL, "LAUNCH: cwd must be absolute or ~");
	else if (l->mode == LAUNCH_PTY && (!valid_size(l->cols) || !valid_size(l->rows)))
		fail(r, -EINVAL, "LAUNCH: pty cols and rows must be 1..65535");
	for (uint32_t i = 0; i < l->envc && !r->err; i++) {
		const char *eq = strchr(l->env[i], '=');
		if (!eq || eq == l->env[i])
			fail(r, -EINVAL, "LAUNCH: every env entry must be NAME=VALUE");
	}
}

static void need_absolute(struct reader *r, const char *path, const char *why)
{
	if (!r->err && (!path || path[0] != '/'))
		fail(r, -EINVAL, why);
}

int proto_decode_request(const uint8_t *frame, size_t frame_len, uint32_t version, void *arena,
			 size_t arena_size, struct request *req, const char **why)
{
	struct reader r = {
		.p = frame + PROTO_HEADER_SIZE,
		.end = frame + frame_len,
		.arena = arena,
		.arena_end = (char *)arena + arena_size,
	};
	struct proto_header *h = &req->h;
	uint8_t want_fds = 0;

	memset(req, 0, sizeof *req);
	if (frame_len < PROTO_HEADER_SIZE || proto_read_header(frame, frame_len, h) != 0 ||
	    h->length != frame_len) {
		*why = "bad frame length";
		return -EMSGSIZE;
	}
	if (h->flags != 0) {
		*why = "reserved header flags must be 0";
		return -EBADMSG;
	}
	if (h->id == 0) {
		*why = "request id must not be 0";
		return -EINVAL;
	}
	switch (h->type) {
	case MSG_HELLO:
		req->u.hello.version = rd_u32(&r, "HELLO: truncated version");
		break;
	case MSG_LAUNCH:
		decode_launch(&r, h, version, &req->u.launch);
		want_fds = h->nfds; /* checked against the mode above */
		break;
	case MSG_SIGNAL:
		req->u.signal.target = rd_u32(&r, "SIGNAL: truncated target");
		req->u.signal.signal = rd_u32(&r, "SIGNAL: truncated signal");
		if (!r.err && (req->u.signal.signal < 1 || req->u.signal.signal > PROTO_MAX_SIGNAL))
			fail(&r, -EINVAL, "SIGNAL: signal must be 1..64");
		break;
	case MSG_RESIZE:
		req->u.resize.target = rd_u32(&r, "RESIZE: truncated target");
		req->u.resize.cols = rd_u32(&r, "RESIZE: truncated cols");
		req->u.resize.rows = rd_u32(&r, "RESIZE: truncated rows");
		if (!r.err && (!valid_size(req->u.resize.cols) || !valid_size(req->u.resize.rows)))
			fail(&r, -EINVAL, "RESIZE: cols and rows must be 1..65535");
		break;
	case MSG_MOUNT:
		req->u.mount.target = rd_str(&r, "MOUNT: truncated target");
		req->u.mount.flags = rd_u32(&r, "MOUNT: truncated flags");
		need_absolute(&r, req->u.mount.target, "MOUNT: target must be an absolute path");
		if (!r.err && (req->u.mount.flags & ~MOUNT_FLAG_READ_ONLY))
			fail(&r, -EINVAL, "MOUNT: unknown flags");
		want_fds = 1;
		break;
	case MSG_UNMOUNT:
		req->u.unmount.target = rd_str(&r, "UNMOUNT: truncated target");
		need_absolute(&r, req->u.unmount.target, "UNMOUNT: target must be an absolute path");
		break;
	case MSG_TERMINATE:
		req->u.terminate.flags = rd_u32(&r, "TERMINATE: truncated flags");
		if (!r.err && (req->u.terminate.flags & ~TERMINATE_FLAG_FORCE))
			fail(&r, -EINVAL, "TERMINATE: unknown flags");
		break;
	default:
		*why = "unknown message type";
		return -ENOSYS;
	}
	if (!r.err && h->nfds != want_fds)
		fail(&r, -EBADMSG, "wrong number of descriptors for this message type");
	if (!r.err && r.p != r.end)
		fail(&r, -EBADMSG, "trailing bytes after the last field");
	if (r.err) {
		*why = r.why;
		return r.err;
	}
	return 0;
}

void proto_begin(struct proto_writer *w, uint8_t *buf, size_t cap, uint16_t type, uint32_t id,
		 uint8_t nfds)
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->overflow = cap < PROTO_HEADER_SIZE;
	if (w->overflow)
		return;
	put_le32(buf, 0); /* patched by proto_end */
	buf[4] = (uint8_t)type;
	buf[5] = (uint8_t)(type >> 8);
	buf[6] = nfds;
	buf[7] = 0;
	put_le32(buf + 8, id);
	w->len = PROTO_HEADER_SIZE;
}

void proto_put_u32(struct proto_writer *w, uint32_t v)
{
	if (w->overflow || w->cap - w->len < 4) {
		w->overflow = 1;
		return;
	}
	put_le32(w->buf + w->len, v);
	w->len += 4;
}

void proto_put_str(struct proto_writer *w, const char *s, size_t max_bytes)
{
	size_t len = strlen(s);

	if (len > max_bytes) {
		len = max_bytes;
		/* Do not cut a UTF-8 sequence: back up over continuation bytes. */
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
	}
	if (w->overflow || len > UINT32_MAX || w->cap - w->len < 4 || w->cap - w->len - 4 < len) {
		w->overflow = 1;
		return;
	}
	put_le32(w->buf + w->len, (uint32_t)len);
	memcpy(w->buf + w->len + 4, s, len);
	w->len += 4 + len;
}

size_t proto_end(struct proto_writer *w)
{
	if (w->overflow || w->len > PROTO_MAX_FRAME)
		return 0;
	put_le32(w->buf, (uint32_t)w->len);
	return w->len;
}
