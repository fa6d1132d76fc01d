#!/usr/bin/env bash
# Builds the static native helpers into dist/native/.  Static on purpose: the
# helper must not depend on the host's (or a chroot's) dynamic loader.
# src/hv/linux/common/ holds what both helpers use (the logger).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

common=src/hv/linux/common
mkdir -p dist/native
gcc -static -O2 -Wall -Wextra -Werror -I "$common" \
  -o dist/native/lxssd-nsexec src/hv/linux/nsexec/*.c "$common"/*.c
gcc -static -O2 -Wall -Wextra -Werror -I "$common" \
  -o dist/native/lxssd-init src/hv/linux/init/*.c "$common"/*.c
