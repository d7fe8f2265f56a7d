#!/usr/bin/env bash
# Rebuilds every binary shipped in the Go distributions under test (bin/* and
# pkg/tool/linux_amd64/*) from the distribution's own source and prints one line
# per binary plus a total. Exit status 0 only if every binary reproduced.
#   scripts/rebuild-distributions.sh [VERSION...]   (default: 1.22.10 1.27.3)
set -euo pipefail
cd "$(dirname "$0")/.."
store=$(REPROLOG_GO_VERSIONS="${*:-1.22.10 1.27.3}" scripts/toolchains.sh)
REPROLOG_BWRAP=$(scripts/bubblewrap.sh)
export REPROLOG_BWRAP
cargo build --release --locked -q -p reprolog-rebuilder
bin=target/release/reprolog-rebuilder
cache=${REPROLOG_CACHE:-.cache/rebuilder}
total=0; ok=0
for v in ${*:-1.22.10 1.27.3}; do
  root="$store/go$v/go"
  for f in "$root"/bin/* "$root"/pkg/tool/linux_amd64/*; do
    total=$((total + 1))
    start=$(date +%s%N)
    if "$bin" rebuild --toolchains "$store" --cache "$cache" "$f" > /dev/null 2> "$cache.last.log"; then
      ok=$((ok + 1)); verdict=REPRODUCED
    else
      verdict="FAILED (exit $?): $(tail -n 1 "$cache.last.log")"
    fi
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    printf 'go%-8s %-28s %4d.%01ds  %s\n' "$v" "${f#"$root"/}" $((ms / 1000)) $((ms % 1000 / 100)) "$verdict"
  done
done
echo "$ok of $total reproduced bit for bit"
[ "$ok" -eq "$total" ]
