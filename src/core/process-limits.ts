// The numbers that bound one process request: what a launch may carry, how long output is drained after an
// exit, how much of argv a list shows. A leaf (no imports), so the route schemas can state them too.

/**
 * After the program exits, how long its output may still be arriving: what it wrote just before its exit
 * (the exit report and the last bytes travel separately), or a background child's. `run` collects this much
 * longer at most; a stream (stdio) ends once the output has been quiet this long.
 */
export const OUTPUT_DRAIN_MS = 250;
/** How long `run` waits, after its deadline's SIGKILL, for the exit to be confirmed before it answers anyway. */
export const KILL_CONFIRM_MS = 1000;

/**
 * What one launch may carry: argv and env strings (UTF-8 bytes, plus 4 for each string's length) together,
 * and one string alone. The first keeps a launch within what the agent protocol carries in one frame (1 MiB,
 * docs/init-protocol.md, with room for user, cwd and framing); the second is Linux's MAX_ARG_STRLEN for
 * execve.
 */
export const MAX_LAUNCH_BYTES = 1024 * 1024 - 32 * 1024;
/** bytes of one string, its terminating NUL aside (MAX_ARG_STRLEN is 128 KiB with it) */
export const MAX_LAUNCH_STRING_BYTES = 128 * 1024 - 1;

/** How much of argv a list shows per process: this many items, each cut to fit in this many bytes in all. */
export const ARGV_SUMMARY = { items: 32, bytes: 4096 } as const;
