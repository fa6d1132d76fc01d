/*
 * lxssd-init: the instance agent, PID 1 of every distribution instance (WSL's
 * init).  The service talks to it over two inherited Unix stream sockets:
 *
 *   fd 3  control channel: framed messages both ways (proto.h,
 *         docs/init-protocol.md)
 *   fd 4  fd channel: descriptors only, one sendmsg(SCM_RIGHTS) per frame
 *         that carries any, always made BEFORE that frame is sent
 *
 * Through them it launches processes, reports their exits, resizes ptys,
 * signals, mounts host folders and, on TERMINATE or when the service goes
 * away, ends every process of the instance and exits.  It reaps every child,
 * launched or orphaned.  Not PID 1 (tests), it makes itself a child subreaper
 * so orphans still come to it.
 *
 * Exit status: 0 after TERMINATE (or SIGTERM/SIGINT/SIGHUP), 1 startup
 * failure, 2 protocol version refused, 3 the control channel closed.
 *
 * Single-threaded; one poll loop over a signalfd and the control channel.
 * Files: init.c the loop, input and dispatch; proto.c frames; reply.c frames
 * out; fdchan.c descriptor passing; spawn.c + passwd.c a launch; procs.c the
 * launched processes and ending them; mounts.c MOUNT/UNMOUNT; logging is
 * ../common/log.c, shared with lxssd-nsexec.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "fdchan.h"
#include "log.h"
#include "mounts.h"
#include "procs.h"
#include "proto.h"
#include "reply.h"
#include "spawn.h"

#define CONTROL_FD 3
#define FD_CHANNEL_FD 4

#define EXIT_OK 0
#define EXIT_STARTUP 1
#define EXIT_REFUSED 2
#define EXIT_CHANNEL_CLOSED 3

/* SIGTERM first, SIGKILL after this; then wait at most KILL_WAIT_MS. */
#define GRACE_MS 500
#define KILL_WAIT_MS 5000

#define ARENA_SIZE (4u * PROTO_MAX_FRAME + 4096u)

/* With the pid: a launch logs from its forked child before it execs. */
const struct log_identity log_identity = { "lxssd-init", LOG_PREFIX_NAME_PID };

static int signal_fd = -1;
static int hello_done;
/* The version HELLO agreed on; frames before HELLO are read as the newest. */
static uint32_t proto_version = PROTO_VERSION;

/* Input: at most one incomplete frame is ever kept, so PROTO_MAX_FRAME is
 * enough.  Static: untouched pages cost nothing. */
static uint8_t inbuf[PROTO_MAX_FRAME];
static size_t in_len;
static uint64_t discard; /* bytes still to skip of an oversized frame */
static uint8_t arena[ARENA_SIZE] __attribute__((aligned(16)));

static struct spawn_options spawn_opts = {
	.passwd_path = "/etc/passwd",
	.group_path = "/etc/group",
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- children ------------------------------------------------------------ */

static void drain_signals(int *terminate_asked)
{
	struct signalfd_siginfo si[16];
	ssize_t n;

	while ((n = read(signal_fd, si, sizeof si)) > 0)
		for (size_t i = 0; i < (size_t)n / sizeof si[0]; i++)
			if (si[i].ssi_signo != SIGCHLD && terminate_asked)
				*terminate_asked = 1;
}

/* Reaps everything that has exited; a launched process gets its EXITED,
 * an orphan nothing.  Returns 1 while children remain, 0 when none do. */
static int reap(void)
{
	int reaped = 0, left;

	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid > 0) {
			struct proc *p = procs_by_pid(pid);
			if (p) {
				reply_exited(p->id, pid, status);
				procs_remove(p);
			}
			reaped = 1;
			continue;
		}
		if (pid < 0 && errno == EINTR)
			continue;
		left = pid == 0; /* else ECHILD: none left */
		break;
	}
	if (reaped)
		procs_forget_empty_groups();
	return left;
}

/* Reaps until no child is left or timeout_ms passed; 1 if some remain. */
static int reap_for(uint64_t timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms;

	while (reap()) {
		uint64_t now = now_ms();
		struct pollfd p = { .fd = signal_fd, .events = POLLIN };

		if (now >= deadline)
			return 1;
		if (poll(&p, 1, (int)(deadline - now)) > 0)
			drain_signals(NULL);
	}
	return 0;
}

/* Why init ends, which decides how it ends its processes, what it last
 * tells the service and its exit status (see the top of this file). */
enum finish_mode {
	/* HELLO asked for a version we do not speak: SIGKILL at once, no
	 * TERMINATED (the ERROR said why), exit 2. */
	FINISH_VERSION_REFUSED,
	/* TERMINATE: SIGTERM, GRACE_MS, then SIGKILL; TERMINATED; exit 0. */
	FINISH_TERMINATE,
	/* TERMINATE with TERMINATE_FLAG_FORCE: SIGKILL at once; TERMINATED;
	 * exit 0. */
	FINISH_TERMINATE_FORCED,
	/* SIGTERM, SIGINT or SIGHUP to init: as TERMINATE, its TERMINATED
	 * answering no request (id 0). */
	FINISH_SIGNALLED,
	/* The service went away: SIGTERM, GRACE_MS, then SIGKILL; nobody left
	 * to tell; exit 3. */
	FINISH_CHANNEL_CLOSED,
};

/* The id TERMINATED carries when no TERMINATE request asked for it. */
#define NO_REQUEST_ID 0u

/*
 * Ends every process of the instance, reporting the EXITED frames still due,
 * then (as MODE says) TERMINATED for request_id, and exits.  The only way
 * out once the loop runs.
 */
static __attribute__((noreturn)) void finish(enum finish_mode mode, uint32_t request_id)
{
	int graceful = mode != FINISH_VERSION_REFUSED && mode != FINISH_TERMINATE_FORCED;
	int tell_service = mode != FINISH_VERSION_REFUSED && mode != FINISH_CHANNEL_CLOSED;
	int exit_code = mode == FINISH_VERSION_REFUSED  ? EXIT_REFUSED
			: mode == FINISH_CHANNEL_CLOSED ? EXIT_CHANNEL_CLOSED
							: EXIT_OK;
	uint64_t deadline;
	int left;

	if (graceful) {
		procs_kill_all(SIGTERM);
		reap_for(GRACE_MS);
	}
	deadline = now_ms() + KILL_WAIT_MS;
	do {
		/* Again each round: orphans reparent to us as their parents die. */
		procs_kill_all(SIGKILL);
		left = reap_for(50);
	} while (left && now_ms() < deadline);
	if (left)
		logmsg("exiting with children left after %d ms of SIGKILL", KILL_WAIT_MS);
	if (tell_service)
		reply_empty(MSG_TERMINATED, request_id);
	_exit(exit_code);
}

/* ---- requests ------------------------------------------------------------ */

static void close_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

static void do_hello(const struct request *req)
{
	if (hello_done) {
		reply_error(req->h.id, EPROTO, MSG_HELLO, "HELLO was already answered");
		return;
	}
	if (req->u.hello.version < PROTO_MIN_VERSION || req->u.hello.version > PROTO_VERSION) {
		reply_error(req->h.id, EPROTONOSUPPORT, MSG_HELLO,
			    "protocol version %u refused: this init speaks versions %u to %u",
			    (unsigned)req->u.hello.version, PROTO_MIN_VERSION, PROTO_VERSION);
		finish(FINISH_VERSION_REFUSED, NO_REQUEST_ID);
	}
	hello_done = 1;
	proto_version = req->u.hello.version;
	reply_hello_ack(req->h.id, proto_version, getpid());
}

static void do_launch(const struct request *req, int *fds)
{
	struct launch_failure fail;
	uint32_t id = req->h.id;
	int master;
	pid_t pid;

	if (procs_by_id(id)) {
		reply_error(id, EEXIST, MSG_LAUNCH, "launch id %u belongs to a running process",
			    (unsigned)id);
		return;
	}
	pid = spawn_launch(&req->u.launch, fds, &spawn_opts, &master, &fail);
	close_fds(fds, PROTO_MAX_FDS); /* the child has its copies */
	if (pid < 0) {
		reply_launch_failed(id, &fail);
		return;
	}
	if (procs_add(id, pid, master) != 0) {
		/* Unlisted, it will be reaped as an orphan: no EXITED. */
		kill(-pid, SIGKILL);
		if (master >= 0)
			close(master);
		fail = (struct launch_failure){ .exit_code = EXIT_LAUNCH_SETUP, .err = ENOMEM };
		snprintf(fail.message, sizeof fail.message, "out of memory recording the process");
		reply_launch_failed(id, &fail);
		return;
	}
	if (master >= 0) {
		int r = fdchan_send(FD_CHANNEL_FD, &master, 1);
		if (r != 0) {
			kill(-pid, SIGKILL);
			procs_remove(procs_by_id(id));
			fail = (struct launch_failure){ .exit_code = EXIT_LAUNCH_SETUP, .err = -r };
			snprintf(fail.message, sizeof fail.message,
				 "cannot pass the pty master on the fd channel: %s", strerror(-r));
			reply_launch_failed(id, &fail);
			return;
		}
	}
	reply_launched(id, pid, master >= 0);
}

static struct proc *target_of(uint32_t id, uint16_t type, uint32_t target)
{
	struct proc *p = procs_by_id(target);

	if (!p)
		reply_error(id, ESRCH, type, "no running process with launch id %u", (unsigned)target);
	return p;
}

static void do_signal(const struct request *req)
{
	const struct req_signal *s = &req->u.signal;
	struct proc *p = target_of(req->h.id, MSG_SIGNAL, s->target);

	if (!p)
		return;
	/* A pty session: the whole process group, as a terminal would. */
	if (kill(p->pty_master >= 0 ? -p->pid : p->pid, (int)s->signal) != 0)
		reply_error(req->h.id, errno, MSG_SIGNAL, "kill %d: %m", (int)p->pid);
	else
		reply_empty(MSG_OK, req->h.id);
}

static void do_resize(const struct request *req)
{
	const struct req_resize *r = &req->u.resize;
	struct proc *p = target_of(req->h.id, MSG_RESIZE, r->target);
	struct winsize ws = { .ws_row = (unsigned short)r->rows, .ws_col = (unsigned short)r->cols };

	if (!p)
		return;
	if (p->pty_master < 0)
		reply_error(req->h.id, ENOTTY, MSG_RESIZE, "launch id %u has no pty",
			    (unsigned)r->target);
	else if (ioctl(p->pty_master, TIOCSWINSZ, &ws) != 0)
		reply_error(req->h.id, errno, MSG_RESIZE, "TIOCSWINSZ: %m");
	else
		reply_empty(MSG_OK, req->h.id);
}

static void do_mount(const struct request *req, int *fds)
{
	char why[REPLY_MESSAGE_MAX];
	int r = mount_host_dir(fds[0], req->u.mount.target,
			       (req->u.mount.flags & MOUNT_FLAG_READ_ONLY) != 0, why, sizeof why);

	close_fds(fds, 1);
	if (r != 0)
		reply_error(req->h.id, -r, MSG_MOUNT, "%s", why);
	else
		reply_empty(MSG_MOUNTED, req->h.id);
}

static void do_unmount(const struct request *req)
{
	char why[REPLY_MESSAGE_MAX];
	int r = unmount_dir(req->u.unmount.target, why, sizeof why);

	if (r != 0)
		reply_error(req->h.id, -r, MSG_UNMOUNT, "%s", why);
	else
		reply_empty(MSG_OK, req->h.id);
}

/* Takes the frame's descriptors off the fd channel whatever else is wrong
 * with it, so the two channels stay in step.  0, or -1 after an ERROR. */
static int take_fds(const struct proto_header *h, int *fds)
{
	int r;

	if (h->nfds == 0)
		return 0;
	r = fdchan_recv(FD_CHANNEL_FD, fds, h->nfds, FDCHAN_TIMEOUT_MS);
	if (r == 0)
		return 0;
	if (r == -ETIMEDOUT)
		reply_error(h->id, EBADMSG, h->type,
			    "the frame announces %u descriptors but none are on the fd channel "
			    "(they must be sent before the frame)",
			    (unsigned)h->nfds);
	else if (r == -EBADMSG)
		reply_error(h->id, EBADMSG, h->type,
			    "the fd channel passing does not hold the %u descriptors the frame "
			    "announces",
			    (unsigned)h->nfds);
	else
		reply_error(h->id, -r, h->type, "receiving descriptors: %s", strerror(-r));
	return -1;
}

static void handle_frame(const uint8_t *frame, const struct proto_header *h)
{
	int fds[PROTO_MAX_FDS] = { -1, -1, -1 };
	struct request req;
	const char *why = NULL;
	int r;

	if (take_fds(h, fds) != 0)
		return;
	r = proto_decode_request(frame, h->length, proto_version, arena, sizeof arena, &req, &why);
	if (r != 0) {
		reply_error(h->id, -r, h->type, "%s", why);
	} else if (!hello_done && h->type != MSG_HELLO) {
		reply_error(h->id, EPROTO, h->type, "HELLO must be the first frame");
	} else {
		switch (h->type) {
		case MSG_HELLO:
			do_hello(&req);
			break;
		case MSG_LAUNCH:
			do_launch(&req, fds);
			break;
		case MSG_SIGNAL:
			do_signal(&req);
			break;
		case MSG_RESIZE:
			do_resize(&req);
			break;
		case MSG_MOUNT:
			do_mount(&req, fds);
			break;
		case MSG_UNMOUNT:
			do_unmount(&req);
			break;
		case MSG_TERMINATE:
			finish(req.u.terminate.flags & TERMINATE_FLAG_FORCE ? FINISH_TERMINATE_FORCED
									    : FINISH_TERMINATE,
			       req.h.id);
		}
	}
	close_fds(fds, PROTO_MAX_FDS);
}

/* Handles every complete frame in inbuf and keeps the incomplete rest. */
static void process_input(void)
{
	size_t off = 0;

	for (;;) {
		struct proto_header h;
		int fds[PROTO_MAX_FDS] = { -1, -1, -1 };

		if (discard > 0) {
			size_t k = in_len - off < discard ? in_len - off : (size_t)discard;
			off += k;
			discard -= k;
			if (discard > 0)
				break;
		}
		if (in_len - off < PROTO_HEADER_SIZE)
			break;
		if (proto_read_header(inbuf + off, in_len - off, &h) != 0) {
			/* A length we cannot honour.  Skip what it claims (a bare header
			 * when it claims less than one), so an honest-but-oversized frame
			 * leaves the stream in step. */
			if (take_fds(&h, fds) == 0)
				close_fds(fds, PROTO_MAX_FDS);
			reply_error(h.id, EMSGSIZE, h.type, "frame length %u outside %u..%u",
				    (unsigned)h.length, PROTO_HEADER_SIZE, PROTO_MAX_FRAME);
			off += PROTO_HEADER_SIZE;
			if (h.length > PROTO_HEADER_SIZE)
				discard = h.length - PROTO_HEADER_SIZE;
			continue;
		}
		if (in_len - off < h.length)
			break;
		handle_frame(inbuf + off, &h);
		off += h.length;
	}
	memmove(inbuf, inbuf + off, in_len - off);
	in_len -= off;
}

static void read_control(void)
{
	ssize_t n;

	/* process_input never keeps a whole frame, so there is always room. */
	if (in_len >= sizeof inbuf) {
		logmsg("internal error: input buffer full; dropping it");
		in_len = 0;
	}
	n = recv(CONTROL_FD, inbuf + in_len, sizeof inbuf - in_len, MSG_DONTWAIT);

	if (n > 0) {
		in_len += (size_t)n;
		process_input();
	} else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		if (n < 0)
			logmsg("control channel read failed: %m");
		reply_channel_lost();
	}
}

/* ---- startup ------------------------------------------------------------- */

static __attribute__((noreturn)) void startup_failure(const char *what)
{
	logmsg("%s: %m", what);
	_exit(EXIT_STARTUP);
}

static void setup_channel(int fd, const char *name)
{
	struct stat st;
	int fl;

	if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		logmsg("fd %d (%s) must be an inherited Unix stream socket", fd, name);
		_exit(EXIT_STARTUP);
	}
	/* Blocking: writes wait for the service rather than fail; reads on the
	 * control channel use MSG_DONTWAIT after poll.  Never inherited by a
	 * launched process. */
	if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
		startup_failure(name);
}

int main(void)
{
	sigset_t all, watched;

	/* Signals first: everything blocked, the ones we act on read from a
	 * signalfd, so none can interrupt or kill us between here and the loop. */
	sigfillset(&all);
	if (sigprocmask(SIG_BLOCK, &all, NULL) != 0)
		startup_failure("sigprocmask");
	sigemptyset(&watched);
	sigaddset(&watched, SIGCHLD);
	sigaddset(&watched, SIGTERM);
	sigaddset(&watched, SIGINT);
	sigaddset(&watched, SIGHUP);
	signal_fd = signalfd(-1, &watched, SFD_CLOEXEC | SFD_NONBLOCK);
	if (signal_fd < 0)
		startup_failure("signalfd");
	/* Default dispositions, inherited by every launch (an inherited SIG_IGN
	 * for SIGCHLD would also make the kernel reap children for us). */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);

	if (getpid() != 1) {
		if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
			startup_failure("prctl(PR_SET_CHILD_SUBREAPER)");
		spawn_opts.parent_death = 1;
	}
	if (proto_arena_size(PROTO_MAX_FRAME) > sizeof arena) {
		logmsg("internal error: the decode arena is too small for a maximal frame");
		_exit(EXIT_STARTUP);
	}
	setup_channel(CONTROL_FD, "control channel");
	setup_channel(FD_CHANNEL_FD, "fd channel");
	reply_init(CONTROL_FD);
	/* Whatever else we inherited must not reach launched processes. */
	close_range(FD_CHANNEL_FD + 1, ~0u, CLOSE_RANGE_CLOEXEC);

	/*
	 * From here on init must never exit except through finish(): as PID 1
	 * its exit kills the whole instance.  Every error below is reported to
	 * the service (ERROR, LAUNCH_FAILED) or logged, never fatal.
	 */
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = signal_fd, .events = POLLIN },
			{ .fd = CONTROL_FD, .events = POLLIN },
		};
		int terminate_asked = 0;

		if (poll(p, 2, -1) < 0) {
			if (errno != EINTR)
				logmsg("poll: %m");
			continue;
		}
		if (p[0].revents) {
			drain_signals(&terminate_asked);
			reap();
			if (terminate_asked)
				finish(FINISH_SIGNALLED, NO_REQUEST_ID);
		}
		if (p[1].revents & POLLNVAL)
			reply_channel_lost();
		else if (p[1].revents)
			read_control();
		if (!reply_channel_open()) {
			logmsg("control channel closed: ending every process");
			finish(FINISH_CHANNEL_CLOSED, NO_REQUEST_ID);
		}
	}
}
