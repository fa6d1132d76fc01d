#!/usr/bin/env bash
# Puts the package's commands (package.json "bin": lxssd, and any other listed there) on the PATH as symlinks
# to this checkout's bin/ files, so `lxssd token` works for every user without npx (which, run by a user who
# does not own the checkout, fails trying to write to it or to their npm cache).
# Usage: scripts/link-bins.sh [DIR]  (default $LXSSD_BIN_DIR, else /usr/local/bin for root, ~/.local/bin otherwise)
# An existing symlink of the same name is replaced; any other file of that name is left alone, with a warning.
set -euo pipefail
checkout="$(cd "$(dirname "$0")/.." && pwd -P)"
if [ "$(id -u)" -eq 0 ]; then default_dir=/usr/local/bin; else default_dir="$HOME/.local/bin"; fi
dir="${1:-${LXSSD_BIN_DIR:-$default_dir}}"
mkdir -p "$dir"

# One "NAME<TAB>PATH" line per command of package.json's "bin".
bins=$(node -e '
  const bin = require(process.argv[1]).bin ?? {};
  for (const [name, path] of Object.entries(typeof bin === "string" ? { lxssd: bin } : bin)) console.log(`${name}\t${path}`);
' "$checkout/package.json")

while IFS=$'\t' read -r name path; do
  [ -n "$name" ] || continue
  target="$checkout/${path#./}"
  link="$dir/$name"
  if [ ! -f "$target" ]; then
    echo "link-bins: $target does not exist; not linking $name" >&2
    continue
  fi
  [ -x "$target" ] || chmod a+rx "$target"
  if [ -e "$link" ] && [ ! -L "$link" ]; then
    echo "link-bins: $link exists and is not a symlink; left alone (remove it to install $name there)" >&2
    continue
  fi
  ln -sfn "$target" "$link"
  echo "link-bins: $link -> $target"
done <<< "$bins"

case ":$PATH:" in
  *":$dir:"*) ;;
  *) echo "link-bins: $dir is not on your PATH; add it to run the commands by name" >&2 ;;
esac
