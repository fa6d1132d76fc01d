#!/usr/bin/env bash
# Builds the static native helpers into dist/native/.  Static on purpose: the
# helper must not depend on the host's (or a chroot's) dynamic loader.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

mkdir -p dist/native
gcc -static -O2 -Wall -Wextra -Werror \
  -o dist/native/lxssd-nsexec src/hv/linux/nsexec/nsexec.c
gcc -static -O2 -Wall -Wextra -Werror \
  -o dist/native/lxssd-init src/hv/linux/init/*.c
