/* --uid-map / --gid-map: parsed and checked here, written to the child's
 * /proc/PID/{u,g}id_map by the supervisor. */
#ifndef LXSSD_NSEXEC_IDMAP_H
#define LXSSD_NSEXEC_IDMAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The kernel rejects a uid_map/gid_map write of PAGE_SIZE bytes or more, and
 * (since 4.15) more than 340 lines.  4096 is the smallest page size. */
#define MAP_TEXT_MAX 4096
#define MAP_ENTRIES_MAX 340

struct idmap_entry {
	uint64_t inner, outer, count;
};

struct idmap {
	const char *name; /* "uid" or "gid", for messages and the /proc file */
	struct idmap_entry entries[MAP_ENTRIES_MAX];
	size_t n;
	char text[MAP_TEXT_MAX]; /* what is written to /proc/PID/?id_map */
	size_t text_len;
};

/* Strict unsigned decimal: at least one digit, at most UINT32_MAX.  Returns
 * the first character after it, or NULL. */
const char *parse_u32(const char *s, uint64_t *out);

/* Parses ARG ("INNER OUTER COUNT[,...]") into MAP (whose name is set); a
 * map the kernel would refuse, or without inner 0, is exit 125. */
void parse_idmap(const char *arg, struct idmap *map);

/* Writes MAP for CHILD in a single write(2), as the kernel requires.
 * 0, or -1 after logging why. */
int write_map(pid_t child, const struct idmap *map);

#endif
