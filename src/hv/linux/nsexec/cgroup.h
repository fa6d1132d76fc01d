/* --cgroup: the groups the helper moves itself into before it forks. */
#ifndef LXSSD_NSEXEC_CGROUP_H
#define LXSSD_NSEXEC_CGROUP_H

#include <stddef.h>

/* Moves this process into each cgroup folder (v1: one per controller, or
 * the one v2 group); exit 125 if one cannot be joined. */
void join_cgroups(const char *const *cgroups, size_t n);

#endif
