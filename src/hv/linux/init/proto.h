/*
 * The lxssd-init wire protocol (docs/init-protocol.md, versions 1 and 2): pure frame
 * encoding and decoding.  Nothing here does I/O, allocates or keeps state;
 * every read is bounds-checked against the frame the caller hands in.
 *
 * Frame: a 12-byte little-endian header, then the payload.
 *
 *   u32 length   whole frame, header included: 12 .. PROTO_MAX_FRAME
 *   u16 type     enum proto_type
 *   u8  nfds     descriptors passed for this frame on the fd channel (0..3)
 *   u8  flags    reserved, 0
 *   u32 id       request id (service -> init), or the id it answers / the
 *                launch id of a process (init -> service); 0 = none
 *
 * Payload fields: u32 (little-endian), str (u32 byte count, then the bytes;
 * no NUL inside), strv (u32 count, then that many str).
 */
#ifndef LXSSD_INIT_PROTO_H
#define LXSSD_INIT_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* The newest version spoken, and the oldest still accepted in HELLO.  Version
 * 2 adds LAUNCH's executable field (a program file other than argv[0]). */
#define PROTO_VERSION 2
#define PROTO_MIN_VERSION 1
#define PROTO_HEADER_SIZE 12
#define PROTO_MAX_FRAME (1u << 20)
#define PROTO_MAX_FDS 3
#define PROTO_NO_UID 0xffffffffu
#define PROTO_MAX_SIGNAL 64

enum proto_type {
	/* service -> init */
	MSG_HELLO = 0x01,
	MSG_LAUNCH = 0x02,
	MSG_SIGNAL = 0x03,
	MSG_RESIZE = 0x04,
	MSG_MOUNT = 0x05,
	MSG_UNMOUNT = 0x06,
	MSG_TERMINATE = 0x07,
	/* init -> service */
	MSG_HELLO_ACK = 0x81,
	MSG_LAUNCHED = 0x82,
	MSG_LAUNCH_FAILED = 0x83,
	MSG_EXITED = 0x84,
	MSG_ERROR = 0x85,
	MSG_OK = 0x86,
	MSG_MOUNTED = 0x87,
	MSG_TERMINATED = 0x88,
};

enum proto_launch_mode { LAUNCH_PIPES = 0, LAUNCH_PTY = 1 };

#define MOUNT_FLAG_READ_ONLY 0x1u
#define TERMINATE_FLAG_FORCE 0x1u

struct proto_header {
	uint32_t length;
	uint16_t type;
	uint8_t nfds;
	uint8_t flags;
	uint32_t id;
};

struct req_hello {
	uint32_t version;
};

struct req_launch {
	uint32_t mode;	  /* enum proto_launch_mode */
	const char *user; /* NULL: not given */
	uint32_t uid;	  /* PROTO_NO_UID: not given; neither given = root */
	char **argv;	  /* NULL-terminated, argc >= 1, argv[0] non-empty */
	const char *executable; /* the file to exec; NULL: argv[0] (always, in version 1) */
	uint32_t argc;
	char **env; /* NULL-terminated, every entry has a '=' after its name */
	uint32_t envc;
	const char *cwd; /* NULL: the user's home, else / */
	uint32_t cols, rows;
};

struct req_signal {
	uint32_t target; /* launch id */
	uint32_t signal; /* 1..PROTO_MAX_SIGNAL */
};

struct req_resize {
	uint32_t target;
	uint32_t cols, rows; /* 1..65535 */
};

struct req_mount {
	const char *target; /* absolute */
	uint32_t flags;	    /* MOUNT_FLAG_* */
};

struct req_unmount {
	const char *target; /* absolute */
};

struct req_terminate {
	uint32_t flags; /* TERMINATE_FLAG_* */
};

struct request {
	struct proto_header h;
	union {
		struct req_hello hello;
		struct req_launch launch;
		struct req_signal signal;
		struct req_resize resize;
		struct req_mount mount;
		struct req_unmount unmount;
		struct req_terminate terminate;
	} u;
};

/*
 * Reads the header at buf (avail bytes, at least PROTO_HEADER_SIZE).
 * Returns 0, or -EMSGSIZE when the length is outside 12..PROTO_MAX_FRAME
 * (the other header fields are still filled in, so the caller can skip the
 * frame and consume its descriptors).
 */
int proto_read_header(const uint8_t *buf, size_t avail, struct proto_header *h);

/* Arena bytes proto_decode_request may need for a frame of frame_len bytes:
 * NUL-terminated copies of every string plus the pointer arrays. */
size_t proto_arena_size(size_t frame_len);

/*
 * Decodes and validates a whole service -> init frame (frame_len bytes, the
 * header included), in the layout of protocol `version` (the one HELLO agreed).  Strings are copied NUL-terminated into arena, which must
 * hold proto_arena_size(frame_len) bytes; req points into it afterwards.
 * Returns 0, or a negative errno with *why set to a static message:
 *   -EBADMSG  truncated field, trailing bytes, NUL inside a string,
 *             reserved flags set, wrong nfds for the type
 *   -ENOSYS   unknown type
 *   -EINVAL   a value out of its domain (mode, signal, size, flags, paths,
 *             argv, env, user and uid both given, id 0)
 */
int proto_decode_request(const uint8_t *frame, size_t frame_len, uint32_t version, void *arena,
			 size_t arena_size, struct request *req, const char **why);

/*
 * Encoding: begin a frame in buf, append fields, end it.  An append that
 * does not fit marks the writer as overflowed; proto_end then returns 0.
 */
struct proto_writer {
	uint8_t *buf;
	size_t cap, len;
	int overflow;
};

void proto_begin(struct proto_writer *w, uint8_t *buf, size_t cap, uint16_t type, uint32_t id,
		 uint8_t nfds);
void proto_put_u32(struct proto_writer *w, uint32_t v);
/* Appends at most max_bytes of s (cut at a UTF-8 character boundary). */
void proto_put_str(struct proto_writer *w, const char *s, size_t max_bytes);
/* Patches the length into the header; returns the frame size, 0 on overflow. */
size_t proto_end(struct proto_writer *w);

#endif
