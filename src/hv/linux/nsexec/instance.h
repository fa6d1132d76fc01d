/*
 * The instance root (--instance-root).  Everything here runs in the new mount namespace as inner
 * root, with the mapped host ids: paths are resolved with the user's host
 * rights, and capabilities count only over inodes whose owner is mapped.
 * Mounts are made with the fd-based mount API (mountfd.h).
 *
 * Read-only (/sys, /init, --bind ...:ro) guards against accidents, not
 * against the distribution's root: it owns this mount namespace and may
 * remount or unmount.  What protects host files is their ownership: host ids
 * outside the map (host root above all) get no capability override, so such
 * a file stays as (in)accessible as it is to the user on the host.
 */
#ifndef LXSSD_NSEXEC_INSTANCE_H
#define LXSSD_NSEXEC_INSTANCE_H

#include "args.h"

/* Sets up OPT's instance root (with --setup-fd first the guest setup of
 * guest_setup.h; then /proc, read-only /sys, /dev, /run, /tmp, the binds and
 * /init) and pivots into it; exit 125 on any failure. */
void setup_instance(const struct options *opt);

#endif
