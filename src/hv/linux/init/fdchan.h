/*
 * The fd channel: descriptors only.  One "passing" is one sendmsg(2) of one
 * byte (its value = the number of descriptors) carrying SCM_RIGHTS.  The
 * sender always makes the passing BEFORE it sends the control frame that
 * refers to it, so the receiver of the frame finds it already queued.
 */
#ifndef LXSSD_INIT_FDCHAN_H
#define LXSSD_INIT_FDCHAN_H

/* How long a receiver waits for a passing the ordering rule says is already
 * there, before it calls the peer broken. */
#define FDCHAN_TIMEOUT_MS 2000

/*
 * Takes one passing off sock.  Fills fds[0..expected-1] (close-on-exec) and
 * returns 0, or returns a negative errno and keeps nothing (every descriptor
 * that came is closed): -ETIMEDOUT nothing arrived, -EPIPE the channel is
 * closed, -EBADMSG the passing did not hold exactly `expected` descriptors
 * (always for an `expected` outside 1..3; fds is then not touched).
 */
int fdchan_recv(int sock, int *fds, int expected, int timeout_ms);

/* One passing of n (1..3) descriptors.  Returns 0 or a negative errno. */
int fdchan_send(int sock, const int *fds, int n);

#endif
