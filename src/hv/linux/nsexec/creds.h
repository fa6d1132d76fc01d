/* Who the helper's processes are: the user namespace they join, inner
 * root, and the parent-death signal each credential change clears. */
#ifndef LXSSD_NSEXEC_CREDS_H
#define LXSSD_NSEXEC_CREDS_H

#include <sys/types.h>

/* Parent death signal (SIGKILL), then a check that the parent did not die
 * before it was set (it would never fire); exit 125 if it did. */
void die_with_parent(pid_t expected_parent);

/* setresgid/setgroups/setresuid to inner 0; exit 125 on failure. */
void become_inner_root(void);

/* A descriptor of PID's user namespace, opened now; exit 125 if PID is gone
 * or shares our own user namespace. */
int open_userns(pid_t pid);

#endif
