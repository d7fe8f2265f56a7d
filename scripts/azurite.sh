#!/usr/bin/env bash
# Makes Azurite, Microsoft's Azure Storage emulator, available for the
# object-storage tests and prints the path of its blob server: the npm
# package `azurite` (pinned, with its lockfile in scripts/azurite/) installed with the machine's Node.js (Debian's
# nodejs and npm with apt-get when missing) into the git-ignored
# .cache/azurite/, reused when present.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/.cache/azurite/node_modules/.bin/azurite-blob
if [ ! -x "$bin" ]; then
  if ! command -v npm >/dev/null; then
    echo "installing Debian's nodejs and npm with apt-get" >&2
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends nodejs npm >&2 2>/dev/null \
      || { "${sudo[@]}" apt-get update -qq >&2 && "${sudo[@]}" apt-get install -y -qq --no-install-recommends nodejs npm >&2; }
  fi
  echo "installing azurite 3.37.0 into .cache/azurite (npm ci from scripts/azurite's lockfile; once)" >&2
  rm -rf .cache/azurite
  mkdir -p .cache/azurite
  cp scripts/azurite/package.json scripts/azurite/package-lock.json .cache/azurite/
  npm ci --prefix .cache/azurite --no-audit --no-fund --silent >&2
fi
echo "$bin"
