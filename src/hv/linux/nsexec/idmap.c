/* Id maps (see idmap.h). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "fail.h"
#include "idmap.h"

const char *parse_u32(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return NULL;
		p++;
	}
	if (p == s)
		return NULL;
	*out = v;
	return p;
}

static int ranges_overlap(uint64_t a, uint64_t b, uint64_t count_a, uint64_t count_b)
{
	return a < b + count_b && b < a + count_a;
}

/*
 * "INNER OUTER COUNT[,INNER OUTER COUNT...]", fields separated by single
 * spaces.  We validate what the kernel would reject anyway (overlaps, wrap
 * past 2^32, size) so the caller gets a clear message instead of EINVAL.
 * Nothing is ever added: host 0 is mapped only if the caller said so.
 */
void parse_idmap(const char *arg, struct idmap *map)
{
	const char *p = arg;
	int has_root = 0;

	map->n = 0;
	map->text_len = 0;
	for (;;) {
		struct idmap_entry e;

		if (map->n == MAP_ENTRIES_MAX)
			die("--%s-map: more than %d entries", map->name, MAP_ENTRIES_MAX);
		if (!(p = parse_u32(p, &e.inner)) || *p++ != ' ' ||
		    !(p = parse_u32(p, &e.outer)) || *p++ != ' ' ||
		    !(p = parse_u32(p, &e.count)) || (*p != ',' && *p != '\0'))
			die("--%s-map: expected \"INNER OUTER COUNT[,...]\" in \"%s\"", map->name, arg);
		if (e.count == 0)
			die("--%s-map: COUNT must be at least 1 in \"%s\"", map->name, arg);
		if (e.inner + e.count > (uint64_t)UINT32_MAX + 1 ||
		    e.outer + e.count > (uint64_t)UINT32_MAX + 1)
			die("--%s-map: range passes 4294967295 in \"%s\"", map->name, arg);
		for (size_t i = 0; i < map->n; i++) {
			const struct idmap_entry *o = &map->entries[i];
			if (ranges_overlap(e.inner, o->inner, e.count, o->count) ||
			    ranges_overlap(e.outer, o->outer, e.count, o->count))
				die("--%s-map: ranges overlap in \"%s\"", map->name, arg);
		}
		if (e.inner == 0)
			has_root = 1;

		int n = snprintf(map->text + map->text_len, sizeof map->text - map->text_len,
				 "%llu %llu %llu\n", (unsigned long long)e.inner,
				 (unsigned long long)e.outer, (unsigned long long)e.count);
		if (n < 0 || (size_t)n >= sizeof map->text - map->text_len)
			die("--%s-map: too long for the kernel", map->name);
		map->text_len += (size_t)n;
		map->entries[map->n++] = e;

		if (*p == '\0')
			break;
		p++; /* the ',' */
	}
	/* The child becomes inner 0 before exec; without it setresuid would fail
	 * later with a much less helpful EINVAL. */
	if (!has_root)
		die("--%s-map: inner id 0 must be mapped", map->name);
}

int write_map(pid_t child, const struct idmap *map)
{
	char path[64];
	int fd, ok;

	snprintf(path, sizeof path, "/proc/%d/%s_map", (int)child, map->name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		logmsg("open %s: %m", path);
		return -1;
	}
	ok = write(fd, map->text, map->text_len) == (ssize_t)map->text_len;
	if (!ok)
		logmsg("write %s: %m", path);
	close(fd);
	return ok ? 0 : -1;
}
