/* /etc/passwd and /etc/group parsing for launches (see passwd.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "passwd.h"

/* Strict decimal id: digits only, below (uid_t)-1 (which means "no id"). */
static int parse_id(const char *s, uint32_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v >= UINT32_MAX)
			return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

/* Splits line in place at ':' into at most max fields; returns the count. */
static size_t split_fields(char *line, char **fields, size_t max)
{
	size_t n = 0;

	fields[n++] = line;
	for (char *p = line; *p && n < max; p++) {
		if (*p == ':') {
			*p = '\0';
			fields[n++] = p + 1;
		}
	}
	return n;
}

/* A line worth looking at: not empty, not a comment, not NIS compat (+/-). */
static int usable_line(char *line)
{
	line[strcspn(line, "\n")] = '\0';
	return line[0] != '\0' && line[0] != '#' && line[0] != '+' && line[0] != '-';
}

struct pw_match {
	const char *name; /* match by name, or */
	uint32_t uid;	  /* by uid when name is NULL */
	/* results */
	int found;
	uint32_t found_uid, found_gid;
	char user[256];
	char home[PATH_MAX];
};

/* Returns 0 (found or not), or -errno when the file cannot be read. */
static int scan_passwd(const char *path, struct pw_match *m)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;

	if (!f)
		return -errno;
	while (!m->found && getline(&line, &cap, f) >= 0) {
		char *fld[7];
		uint32_t uid, gid;

		if (!usable_line(line) || split_fields(line, fld, 7) < 7)
			continue;
		if (parse_id(fld[2], &uid) != 0 || parse_id(fld[3], &gid) != 0)
			continue;
		if (m->name ? strcmp(fld[0], m->name) != 0 : uid != m->uid)
			continue;
		if (strlen(fld[0]) >= sizeof m->user || strlen(fld[5]) >= sizeof m->home)
			continue;
		m->found = 1;
		m->found_uid = uid;
		m->found_gid = gid;
		strcpy(m->user, fld[0]);
		strcpy(m->home, fld[5][0] ? fld[5] : "/");
	}
	free(line);
	fclose(f);
	return 0;
}

static int add_group(struct account *a, gid_t gid, size_t *cap)
{
	long max = sysconf(_SC_NGROUPS_MAX);

	for (size_t i = 0; i < a->ngroups; i++)
		if (a->groups[i] == gid)
			return 0;
	if (max > 0 && a->ngroups >= (size_t)max)
		return 0; /* the kernel takes no more; extra memberships are dropped */
	if (a->ngroups == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		gid_t *g = realloc(a->groups, ncap * sizeof *g);
		if (!g)
			return -ENOMEM;
		a->groups = g;
		*cap = ncap;
	}
	a->groups[a->ngroups++] = gid;
	return 0;
}

static int is_member(char *members, const char *user)
{
	for (char *tok = strtok(members, ","); tok; tok = strtok(NULL, ","))
		if (strcmp(tok, user) == 0)
			return 1;
	return 0;
}

/* The primary gid, then every group whose member list names user.  A missing
 * /etc/group just means no supplementary groups. */
static int collect_groups(const char *path, const char *user, struct account *a)
{
	size_t cap = 0;
	FILE *f;
	char *line = NULL;
	size_t lcap = 0;
	int r = add_group(a, a->gid, &cap);

	if (r != 0 || !user || !(f = fopen(path, "re")))
		return r;
	while (r == 0 && getline(&line, &lcap, f) >= 0) {
		char *fld[4];
		uint32_t gid;

		if (!usable_line(line) || split_fields(line, fld, 4) < 4)
			continue;
		if (parse_id(fld[2], &gid) == 0 && is_member(fld[3], user))
			r = add_group(a, gid, &cap);
	}
	free(line);
	fclose(f);
	return r;
}

static int finish(const char *group_path, struct pw_match *m, struct account *a, char *why,
		  size_t why_size)
{
	int r;

	a->uid = m->found_uid;
	a->gid = m->found_gid;
	snprintf(a->home, sizeof a->home, "%s", m->found ? m->home : "/");
	r = collect_groups(group_path, m->found ? m->user : NULL, a);
	if (r != 0) {
		snprintf(why, why_size, "cannot collect the groups of uid %u: %s", (unsigned)a->uid,
			 strerror(-r));
		account_free(a);
	}
	return r;
}

int account_by_name(const char *passwd_path, const char *group_path, const char *name,
		    struct account *a, char *why, size_t why_size)
{
	struct pw_match m = { .name = name };
	int r = scan_passwd(passwd_path, &m);

	memset(a, 0, sizeof *a);
	if (r != 0) {
		snprintf(why, why_size, "user \"%s\" not found: cannot read %s: %s", name, passwd_path,
			 strerror(-r));
		return -ENOENT;
	}
	if (!m.found) {
		snprintf(why, why_size, "user \"%s\" not found in %s", name, passwd_path);
		return -ENOENT;
	}
	return finish(group_path, &m, a, why, why_size);
}

int account_by_uid(const char *passwd_path, const char *group_path, uid_t uid, struct account *a,
		   char *why, size_t why_size)
{
	struct pw_match m = { .uid = uid };

	memset(a, 0, sizeof *a);
	if (scan_passwd(passwd_path, &m) != 0 || !m.found) {
		m.found = 0;
		m.found_uid = uid;
		m.found_gid = uid;
	}
	return finish(group_path, &m, a, why, why_size);
}

void account_free(struct account *a)
{
	free(a->groups);
	a->groups = NULL;
	a->ngroups = 0;
}
