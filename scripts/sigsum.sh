#!/usr/bin/env bash
# Makes Debian's `sigsum-go` tools (sigsum-witness, sigsum-key) available and
# prints the directory holding them. sigsum-go is in bookworm-backports (and
# trixie), which the machine's apt sources may not list, so this asks apt with
# a private source list and state directory and unpacks the package into the
# git-ignored .cache/sigsum/ (no root needed; reused when present).
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v sigsum-witness >/dev/null 2>&1 && command -v sigsum-key >/dev/null 2>&1; then
  dirname "$(command -v sigsum-witness)"
  exit 0
fi
bin=$PWD/.cache/sigsum/usr/bin
if [ ! -x "$bin/sigsum-witness" ]; then
  echo "installing sigsum-go into .cache/sigsum (Debian bookworm-backports package)" >&2
  apt=$(mktemp -d)
  trap 'rm -rf "$apt"' EXIT
  mkdir -p "$apt/sources" "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/dl"
  cat > "$apt/sources/backports.sources" <<SOURCES
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt/sources"
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o "APT::Sandbox::User=root")
  apt-get "${opts[@]}" -qq update >&2
  (cd "$apt/dl" && apt-get "${opts[@]}" -qq download sigsum-go >&2)
  rm -rf .cache/sigsum
  mkdir -p .cache/sigsum
  dpkg-deb -x "$apt"/dl/sigsum-go_*.deb .cache/sigsum
fi
echo "$bin"
