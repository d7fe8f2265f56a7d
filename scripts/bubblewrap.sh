#!/usr/bin/env bash
# Makes bubblewrap (`bwrap`), the sandbox every rebuild runs in, available and
# prints its path. Uses the system's bwrap when there is one; otherwise
# downloads Debian's `bubblewrap` package with apt and unpacks it into the
# git-ignored .cache/bubblewrap/ (no root needed; reused when present).
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v bwrap >/dev/null 2>&1; then
  command -v bwrap
  exit 0
fi
cached=$PWD/.cache/bubblewrap/usr/bin/bwrap
if [ ! -x "$cached" ]; then
  echo "installing bubblewrap into .cache/bubblewrap (Debian package)" >&2
  dl=$(mktemp -d)
  trap 'rm -rf "$dl"' EXIT
  if ! (cd "$dl" && apt-get download bubblewrap >&2 2>/dev/null); then
    # A fresh machine may have no package lists yet.
    apt-get update -qq >&2
    (cd "$dl" && apt-get download bubblewrap >&2)
  fi
  rm -rf .cache/bubblewrap
  mkdir -p .cache/bubblewrap
  dpkg-deb -x "$dl"/bubblewrap_*.deb .cache/bubblewrap
fi
echo "$cached"
