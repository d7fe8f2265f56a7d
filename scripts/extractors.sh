#!/usr/bin/env bash
# Makes the extractors people unpack releases with available for the archive
# differential test: GNU tar, bsdtar (Debian's libarchive-tools), Info-ZIP
# unzip, and Python's tarfile/zipfile (python3). Installs what is missing
# with apt-get (as root, or through sudo) and prints bsdtar's path.
set -euo pipefail
missing=()
command -v tar >/dev/null 2>&1 || missing+=(tar)
command -v bsdtar >/dev/null 2>&1 || missing+=(libarchive-tools)
command -v unzip >/dev/null 2>&1 || missing+=(unzip)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} with apt-get" >&2
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 2>/dev/null; then
    # A fresh machine may have no package lists yet.
    "${sudo[@]}" apt-get update -qq >&2
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
fi
command -v bsdtar
