#!/usr/bin/env bash
# Makes Debian's Chromium and ChromeDriver available for the web page's browser
# tests and prints ChromeDriver's path (Chromium is /usr/bin/chromium beside
# it). Chromium needs its shared libraries, so it is installed with apt-get
# (as root, or through sudo) rather than unpacked into .cache.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "installing Debian's chromium and chromium-driver with apt-get" >&2
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver >&2 2>/dev/null; then
    # A fresh machine may have no package lists yet.
    "${sudo[@]}" apt-get update -qq >&2
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver >&2
  fi
fi
command -v chromedriver
