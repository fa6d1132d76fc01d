/* The launch table and instance-wide kill (see procs.h).  An instance may
 * run thousands of launched processes, so the table is indexed twice, by
 * launch id and by pid (open addressing, linear probing), and stays O(1) per
 * launch and per reap whatever it holds. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procs.h"

static struct proc *procs;
static int nprocs, cap_procs;

/* Groups of every launch, live or reaped, until kill says they are empty.
 * The kernel does not reuse a pid while it names a live process group.
 * Only kept when init is not PID 1: PID 1 reaches everything with kill(-1). */
static pid_t *groups;
static int ngroups, cap_groups;
static int tracks_groups = -1; /* -1: not decided yet */

/* An index of procs[]: slots hold a procs[] position, or -1. */
enum key_kind { BY_ID, BY_PID };
struct index {
	int32_t *slots;
	uint32_t mask; /* slots - 1, a power of two minus one; 0: none yet */
};
static struct index by_id, by_pid;

static uint32_t key_of(enum key_kind kind, const struct proc *p)
{
	return kind == BY_ID ? p->id : (uint32_t)p->pid;
}

static uint32_t hash32(uint32_t k)
{
	k ^= k >> 16;
	k *= 0x7feb352du;
	k ^= k >> 15;
	k *= 0x846ca68bu;
	k ^= k >> 16;
	return k;
}

/* The slot holding KEY, or the empty slot where it would go. */
static uint32_t index_slot(const struct index *ix, enum key_kind kind, uint32_t key)
{
	uint32_t i = hash32(key) & ix->mask;

	while (ix->slots[i] >= 0 && key_of(kind, &procs[ix->slots[i]]) != key)
		i = (i + 1) & ix->mask;
	return i;
}

static struct proc *index_find(const struct index *ix, enum key_kind kind, uint32_t key)
{
	uint32_t i;

	if (ix->mask == 0)
		return NULL;
	i = index_slot(ix, kind, key);
	return ix->slots[i] >= 0 ? &procs[ix->slots[i]] : NULL;
}

/* Removes the entry at slot I, shifting later entries of its probe run back
 * so that no lookup stops early at the hole. */
static void index_delete(struct index *ix, enum key_kind kind, uint32_t i)
{
	uint32_t j = i;

	for (;;) {
		uint32_t home;

		j = (j + 1) & ix->mask;
		if (ix->slots[j] < 0)
			break;
		home = hash32(key_of(kind, &procs[ix->slots[j]])) & ix->mask;
		/* The entry at j may fill the hole at i unless its home lies
		 * cyclically in (i, j]. */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		ix->slots[i] = ix->slots[j];
		i = j;
	}
	ix->slots[i] = -1;
}

/* Both indexes at SLOTS slots (a power of two), rebuilt from procs[]; on
 * failure both stay as they were. */
static int index_rebuild(uint32_t slots)
{
	struct index *ixs[2] = { &by_id, &by_pid };
	int32_t *fresh[2] = { malloc((size_t)slots * sizeof(int32_t)),
			      malloc((size_t)slots * sizeof(int32_t)) };

	if (!fresh[0] || !fresh[1]) {
		free(fresh[0]);
		free(fresh[1]);
		return -ENOMEM;
	}
	for (int k = 0; k < 2; k++) {
		free(ixs[k]->slots);
		ixs[k]->slots = fresh[k];
		ixs[k]->mask = slots - 1;
		memset(fresh[k], 0xff, (size_t)slots * sizeof(int32_t));
		for (int i = 0; i < nprocs; i++)
			fresh[k][index_slot(ixs[k], (enum key_kind)k,
					    key_of((enum key_kind)k, &procs[i]))] = i;
	}
	return 0;
}

static int grow(void **array, int *cap, size_t elem)
{
	int ncap = *cap ? *cap * 2 : 16;
	void *p = realloc(*array, (size_t)ncap * elem);

	if (!p)
		return -ENOMEM;
	*array = p;
	*cap = ncap;
	return 0;
}

int procs_add(uint32_t id, pid_t pid, int pty_master)
{
	if (tracks_groups < 0)
		tracks_groups = getpid() != 1;
	if (nprocs == cap_procs && grow((void **)&procs, &cap_procs, sizeof *procs) != 0)
		return -ENOMEM;
	if (tracks_groups && ngroups == cap_groups &&
	    grow((void **)&groups, &cap_groups, sizeof *groups) != 0)
		return -ENOMEM;
	/* At most half full, so probe runs stay short. */
	if ((uint32_t)(nprocs + 1) * 2 > by_id.mask + 1 &&
	    index_rebuild(by_id.mask ? (by_id.mask + 1) * 2 : 64) != 0)
		return -ENOMEM;
	procs[nprocs] = (struct proc){ .id = id, .pid = pid, .pty_master = pty_master };
	by_id.slots[index_slot(&by_id, BY_ID, id)] = nprocs;
	by_pid.slots[index_slot(&by_pid, BY_PID, (uint32_t)pid)] = nprocs;
	nprocs++;
	if (tracks_groups)
		groups[ngroups++] = pid;
	return 0;
}

struct proc *procs_by_id(uint32_t id)
{
	return index_find(&by_id, BY_ID, id);
}

struct proc *procs_by_pid(pid_t pid)
{
	return index_find(&by_pid, BY_PID, (uint32_t)pid);
}

void procs_forget_empty_groups(void)
{
	for (int i = 0; i < ngroups;) {
		if (kill(-groups[i], 0) != 0 && errno == ESRCH)
			groups[i] = groups[--ngroups];
		else
			i++;
	}
}

void procs_remove(struct proc *p)
{
	int at = (int)(p - procs), last = nprocs - 1;

	if (p->pty_master >= 0)
		close(p->pty_master);
	index_delete(&by_id, BY_ID, index_slot(&by_id, BY_ID, p->id));
	index_delete(&by_pid, BY_PID, index_slot(&by_pid, BY_PID, (uint32_t)p->pid));
	if (at != last) {
		/* The last entry moves into the hole: its slots follow it. */
		by_id.slots[index_slot(&by_id, BY_ID, procs[last].id)] = at;
		by_pid.slots[index_slot(&by_pid, BY_PID, (uint32_t)procs[last].pid)] = at;
		procs[at] = procs[last];
	}
	nprocs--;
}

int procs_count(void)
{
	return nprocs;
}

/* Orphans that reparented to us as subreaper.  /proc may be missing (a bare
 * chroot in tests): then process groups are all we can reach. */
static void kill_children(int sig)
{
	char path[64], buf[4096];
	FILE *f;

	snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
	f = fopen(path, "re");
	if (!f)
		return;
	while (fscanf(f, "%4095s", buf) == 1) {
		char *end;
		long pid = strtol(buf, &end, 10);
		if (*end == '\0' && pid > 1)
			kill((pid_t)pid, sig);
	}
	fclose(f);
}

void procs_kill_all(int sig)
{
	if (getpid() == 1) {
		kill(-1, sig);
		return;
	}
	for (int i = 0; i < ngroups; i++)
		kill(-groups[i], sig);
	procs_forget_empty_groups();
	for (int i = 0; i < nprocs; i++)
		kill(procs[i].pid, sig);
	kill_children(sig);
}
