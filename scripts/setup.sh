#!/usr/bin/env bash
# Installs everything lxssd needs on Debian 12: the Debian packages (one `apt-get update`, only when some
# are missing; needs root) and the npm packages, whose install also builds the project (`prepare`).
set -euo pipefail
cd "$(dirname "$0")/.."

# busybox-static: the static tar that imports run inside a distribution's own root; debootstrap: the Debian
# test distribution; uidmap: newuidmap/newgidmap; gcc + libc6-dev: the static native helpers; chromium: the
# browser tests (test/browser, driven by playwright-core); curl and jq: the README's examples;
# libopenapi-client-perl: Perl's OpenAPI::Client, the client driven only from openapi/openapi.json
# (test/e2e/perl-client.test.ts).
PACKAGES=(busybox-static debootstrap xz-utils uidmap curl ca-certificates jq gcc libc6-dev chromium libopenapi-client-perl tmux zsh)

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "setup: lxssd needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
    exit 1
  fi
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

npm ci --no-audit --no-fund
# The client generator (openapi-typescript and the TypeScript 5 it needs), apart: see scripts/generate-client.sh.
npm ci --prefix tools/client-gen --no-audit --no-fund

# The commands on the PATH (symlinks into this checkout; see the script), for root and every other user.
bash scripts/link-bins.sh
